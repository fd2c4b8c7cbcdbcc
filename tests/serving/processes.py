"""Real servers for tests: redis-server and uvicorn on 127.0.0.1 and a free port, stopped by PID.

Background processes here may start with SIGINT/SIGTERM ignored, so each child restores the
default handlers before it runs; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_DFL)


def stop(process: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM the process by PID, SIGKILL it if it does not exit in time."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout)


def redis_server_or_skip() -> str:
    """The redis-server executable, or skip the test with the reason."""
    found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed here (apt-get install -y redis-server; .ci/run does it)")
    return found


@contextlib.contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """A throwaway redis-server (no persistence) on 127.0.0.1; yields its URL."""
    executable = redis_server_or_skip()
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder), "--save", "",
         "--appendonly", "no", "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=_default_signals,
    )
    try:
        _wait_for_port(port, process, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(process)


def _cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    for _ in range(100):
        port = free_port()
        if port + 10_000 < 65_536:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port + 10_000)) != 0:
                    return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


@contextlib.contextmanager
def redis_cluster(folder: Path, nodes: int = 3) -> Iterator[str]:
    """A throwaway Redis Cluster of `nodes` primaries on 127.0.0.1 (`redis-cli --cluster create`);
    yields the URL of its first node."""
    executable = redis_server_or_skip()
    cli = shutil.which("redis-cli")
    if cli is None:
        pytest.skip("redis-cli is not installed here (it comes with Debian's redis-server package)")
    ports, processes = [], []
    try:
        for index in range(nodes):
            port = _cluster_port()
            node_dir = folder / f"node{index}"
            node_dir.mkdir(parents=True, exist_ok=True)
            processes.append(subprocess.Popen(
                [executable, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir), "--save", "",
                 "--appendonly", "no", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-node-timeout", "5000"],
                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, preexec_fn=_default_signals,
            ))
            ports.append(port)
            _wait_for_port(port, processes[-1], "redis-server (cluster node)")
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports), "--cluster-replicas", "0",
                        "--cluster-yes"], check=True, capture_output=True, timeout=60, preexec_fn=_default_signals)
        deadline = time.monotonic() + 30
        while not all(b"cluster_state:ok" in subprocess.run([cli, "-p", str(p), "cluster", "info"], capture_output=True,
                                                            timeout=10).stdout for p in ports):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Redis Cluster on ports {ports} did not reach cluster_state:ok in 30s")
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{ports[0]}"
    finally:
        for process in processes:
            stop(process)


@contextlib.contextmanager
def uvicorn_server(env: Mapping[str, str], log: Path, *, workers: int = 1) -> Iterator[str]:
    """`python -m fraud_pipelines.serving` with `env` on a free port; yields its base URL."""
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "fraud_pipelines.serving", "--host", "127.0.0.1", "--port", str(port),
             "--workers", str(workers)],
            cwd=REPO, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT,
            preexec_fn=_default_signals,
        )
    try:
        _wait_for_port(port, process, f"the REST service (log: {log})", timeout=60.0)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def _wait_for_port(port: int, process: subprocess.Popen, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening on {port}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s")
