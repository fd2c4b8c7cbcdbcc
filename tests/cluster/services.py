"""Real cluster services for the cluster test, each on 127.0.0.1 and a free port, started from installed
packages and stopped by PID however the test ends: PostgreSQL (a throwaway cluster made by initdb),
a single-threaded moto S3 server, an MLflow tracking server (Postgres backend, S3 artifacts), Celery
workers and the Dagster daemon. Redis comes from tests/serving/processes.py.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from serving.processes import _default_signals, _wait_for_port, free_port, stop

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _postgres_bin(name: str) -> str:
    """A PostgreSQL server program: on PATH, else Debian's /usr/lib/postgresql/<version>/bin; or skip."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)),
                                       None)
    if found is None:
        pytest.skip(f"PostgreSQL's {name} is not installed here (apt-get install -y postgresql; .ci/run does it)")
    return found


def _as_postgres_user() -> tuple[int, int] | None:
    """(uid, gid) to run the server as when we are root (postgres refuses to run as root)."""
    if os.geteuid() != 0:
        return None
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root without a 'postgres' user to start PostgreSQL as")
    return entry.pw_uid, entry.pw_gid


def _drop_to(ids: tuple[int, int] | None):
    def start() -> None:
        _default_signals()
        if ids is not None:
            os.setgid(ids[1])
            os.setuid(ids[0])
    return start


@contextlib.contextmanager
def postgres(databases: tuple[str, ...]) -> Iterator[str]:
    """A fresh PostgreSQL cluster (trust auth, user `postgres`) with `databases`; yields the base URL
    `postgresql+psycopg2://postgres@127.0.0.1:<port>` (append `/<database>`)."""
    initdb, server = _postgres_bin("initdb"), _postgres_bin("postgres")
    ids = _as_postgres_user()
    folder = Path(tempfile.mkdtemp(prefix="fraud-pg-"))  # under /tmp: the postgres user must reach it
    process = None
    try:
        if ids is not None:
            os.chown(folder, *ids)
        subprocess.run([initdb, "-D", str(folder / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, timeout=120, preexec_fn=_drop_to(ids))
        port = free_port()
        with open(folder / "server.log", "ab") as log:
            process = subprocess.Popen(
                [server, "-D", str(folder / "data"), "-p", str(port), "-k", str(folder), "-c",
                 "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_drop_to(ids))
        _wait_for_port(port, process, f"postgres (log: {folder / 'server.log'})", timeout=60)
        import psycopg2  # the `cluster` extra

        for _ in range(100):  # the port opens a moment before the server accepts logins
            try:
                connection = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
                break
            except psycopg2.OperationalError:
                time.sleep(0.1)
        connection.autocommit = True
        with connection.cursor() as cursor:
            for name in databases:
                cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}"
    finally:
        if process is not None:
            stop(process, timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


MOTO = """
import sys
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
# Single-threaded: moto's If-None-Match check is not locked, so concurrent conditional puts could both pass.
run_simple("127.0.0.1", int(sys.argv[1]), DomainDispatcherApplication(create_backend_app), threaded=False,
           use_reloader=False)
"""


@contextlib.contextmanager
def moto_s3(log: Path, buckets: tuple[str, ...]) -> Iterator[str]:
    """A single-threaded moto S3 server with `buckets`; yields its endpoint URL."""
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen([sys.executable, "-c", MOTO, str(port)], stdout=output, stderr=subprocess.STDOUT,
                                   preexec_fn=_default_signals)
    try:
        _wait_for_port(port, process, f"moto S3 (log: {log})", timeout=60)
        endpoint = f"http://127.0.0.1:{port}"
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="test", aws_secret_access_key="test",
                              region_name="us-east-1")
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        stop(process)


@contextlib.contextmanager
def mlflow_server(backend: str, artifacts: str, env: Mapping[str, str], log: Path) -> Iterator[str]:
    """`mlflow server` with a database backend and proxied artifacts on object storage; yields its URL
    at once (its first start migrates the database: `wait_until_healthy` before using it)."""
    port = free_port()
    with open(log, "ab") as output:
        process = subprocess.Popen(
            [str(BIN / "mlflow"), "server", "--backend-store-uri", backend, "--serve-artifacts",
             "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT, preexec_fn=_default_signals)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


def wait_until_healthy(url: str, what: str, timeout: float = 300) -> None:
    """Wait until `url`/health answers 200 (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer {url}/health within {timeout:.0f}s")
        time.sleep(0.5)


@contextlib.contextmanager
def background(command: list[str], env: Mapping[str, str], log: Path, *, cwd: Path = REPO,
               long_running: bool = True) -> Iterator[subprocess.Popen]:
    """A program (a Celery worker, the Dagster daemon, a run) with `env`, stopped at the end if still running;
    a `long_running` one must still be up half a second after its start."""
    with open(log, "ab") as output:
        process = subprocess.Popen(command, cwd=cwd, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT, preexec_fn=_default_signals)
    try:
        if long_running:
            time.sleep(0.5)
            if process.poll() is not None:
                raise RuntimeError(f"{command[0]} exited with code {process.returncode} (log: {log})")
        yield process
    finally:
        stop(process, timeout=30)


def celery_worker(name: str, env: Mapping[str, str], config_dir: Path, log: Path):
    """One Celery worker of dagster-celery's app (one process, one step at a time), reading the broker
    from `dagster_celery_config.py` in `config_dir`."""
    pythonpath = os.pathsep.join(p for p in (str(config_dir), env.get("PYTHONPATH", "")) if p)
    return background([str(BIN / "celery"), "-A", "dagster_celery.app", "worker", "-Q", "dagster", "-c", "1",
                       "--prefetch-multiplier=1", "-n", f"{name}@%h", "--loglevel", "INFO"],
                      {**env, "PYTHONPATH": pythonpath}, log)


def dagster_daemon(env: Mapping[str, str], log: Path):
    """`dagster-daemon run` on the repository's workspace: dequeues runs and launches them."""
    return background([str(BIN / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")], env, log)
