"""Benchmark of online scoring against the HTTP floor: in the same run, a bare FastAPI endpoint
served by uvicorn with the service's own settings (one worker, uvloop + httptools, no access
log) and POST /predict, each at concurrency 1, 8 and 32 (p50/p99 latency and throughput), with
the SQLite and the Redis online store; ratios /predict : floor are printed. Also the in-process
parts of a request (card-state read, feature vector, scoring) and of a write (POST /charges's
atomic merge).

Data: the real Dagster graph on synthetic data (default 5,000 cards, 10,000 charges a day, 10
days) in a temporary $FRAUD_HOME, unless --home points at one this bench built and kept. Requests
are new charges of known cards (by card number) after the data. The client is Python's http.client on keep-alive
connections, one thread per connection, on the same 2-core machine: its own cost is part of
both figures. The servers' CPU time per request (from /proc) is printed too: on a shared machine
it moves far less with the load than latencies do. Targets: /predict p99 <= 2x the floor's at c=1
and c=8, throughput >= 50 % of it; with include_reasons=true, p99 <= 1.5x /predict's without.

Usage: python bench/bench_serving.py [--home DIR] [--requests 2000] [--repeats 3] [--cards 5000] [--keep]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")

from serving_report import figures_line, load_range, medians, rounds_note, summary  # noqa: E402


def build_home(home: Path, cards: int, per_day: int, days: int) -> None:
    """Raw tables -> features -> model -> batch scores -> serving state, as `make demo` does."""
    import dagster as dg

    from fraud_pipelines.features.assets import FEATURE_ASSETS
    from fraud_pipelines.features.checks import FEATURE_CHECKS
    from fraud_pipelines.raw.assets import RAW_ASSETS
    from fraud_pipelines.raw.checks import RAW_CHECKS
    from fraud_pipelines.resources import RawSourceResource, StorageResource
    from fraud_pipelines.scoring.assets import SCORING_ASSETS
    from fraud_pipelines.serving.assets import SERVING_ASSETS
    from fraud_pipelines.training.assets import TRAINING_ASSETS
    from fraud_pipelines.training.checks import TRAINING_CHECKS

    everything = [*RAW_ASSETS, *RAW_CHECKS, *FEATURE_ASSETS, *FEATURE_CHECKS, *TRAINING_ASSETS, *TRAINING_CHECKS,
                  *SCORING_ASSETS, *SERVING_ASSETS]
    first = "2025-01-01"
    last = str(np.datetime64(first) + np.timedelta64(days - 1, "D"))
    started = time.perf_counter()
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            everything, instance=instance,
            resources={"storage": StorageResource(root=str(home)), "mlflow": _mlflow(home),
                       "raw_source": RawSourceResource(n_cards=cards, transactions_per_day=per_day,
                                                       horizon_days=days + 10)},
            tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
        )
    assert result.success
    print(f"built {home}: {cards:,} cards, {per_day * days:,} charges in {time.perf_counter() - started:.0f}s")


def _mlflow(home: Path):
    """The embedded MLflow store of `home`."""
    from fraud_pipelines.resources import MlflowResource

    return MlflowResource(tracking_uri=f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
                          artifact_location=str(home / "mlflow" / "artifacts"))


def card_numbers(cards: int, per_day: int, days: int) -> dict[int, int]:
    """Each stored token's card number, from the generator `build_home` ran (clients post card
    numbers; the tables hold their tokens, under the key in $FRAUD_HOME)."""
    from fraud_pipelines.privacy.tokens import tokenizer
    from fraud_pipelines.resources import RawSourceResource

    source = RawSourceResource(n_cards=cards, transactions_per_day=per_day, horizon_days=days + 10).source()
    pans = source.history("profiles")[0].frame["cc_num"].drop_duplicates()
    return dict(zip(tokenizer(create=False).tokens(pans).tolist(), pans.tolist()))


def requests_for(home: Path, n: int, phase: int, pans: dict[int, int]) -> list[bytes]:
    """`n` JSON bodies: new charges of known cards (by card number), 1-30 minutes apart per card,
    `phase` days after the data (later phases come later, so every charge is its card's newest)."""
    from fraud_pipelines.resources import StorageResource

    raw = StorageResource(root=str(home)).raw_table("transactions").read()
    known = [token for token in raw["cc_num"].unique().tolist() if token in pans]
    if not known:
        raise SystemExit(f"none of {home}'s cards has a card number from the generator with these --cards/--per-day/"
                         "--days: point --home at a home this bench built (--keep) with the same sizes")
    rng = np.random.default_rng(phase)
    cards = rng.choice(np.array(known, dtype=np.int64), size=n)
    start = raw["datetime"].max() + timedelta(days=phase)
    clock: dict[int, object] = {}
    bodies = []
    for i, card in enumerate(cards.tolist()):
        clock[card] = clock.get(card, start) + timedelta(minutes=int(rng.integers(1, 30)))
        bodies.append(json.dumps({
            "cc_num": pans[card], "datetime": clock[card].isoformat(),
            "amount": round(float(rng.lognormal(3, 1)), 2), "category": "Grocery",
            "latitude": float(rng.uniform(40, 50)), "longitude": float(rng.uniform(0, 10)),
            "tid": 10**15 + phase * 10**6 + i,
        }).encode())
    return bodies


# --- servers -------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _default_signals() -> None:
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_DFL)


def start(command: list[str], env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Start a server (default signal handlers) and wait until it listens on 127.0.0.1:port."""
    with open(log, "ab") as output:
        process = subprocess.Popen(command, cwd=REPO, env={**os.environ, **env}, stdout=output,
                                   stderr=subprocess.STDOUT, preexec_fn=_default_signals)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[0]} exited early; see {log}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.05)
    stop(process)
    raise RuntimeError(f"{command} did not listen on {port}; see {log}")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM by PID, SIGKILL after 10 s."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)


# --- measuring -----------------------------------------------------------------------------------

def percentiles(seconds: list[float]) -> dict[str, float]:
    """p50/p95/p99 in milliseconds and the count."""
    ms = np.array(seconds) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95)),
            "p99": float(np.percentile(ms, 99)), "n": len(ms)}


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int) -> dict[int, float]:
    """CPU time (user + system) of each thread of a process so far, by thread id (Linux)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out


def hammer(port: int, bodies: list[bytes], concurrency: int, path: str = "/predict",
           server_pid: int | None = None, store_pid: int | None = None) -> tuple[dict[str, float], float]:
    """Latencies of POST `path` for all `bodies`, split over `concurrency` keep-alive clients; with
    `server_pid`, the summary also holds the server's CPU time per request ("cpu_us"), split into its
    event loop's thread ("loop_us") and its other threads ("threads_us"); with `store_pid`, the online
    store server's CPU time per request ("store_us")."""
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors: list[str] = []

    def client(index: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Content-Type": "application/json"}
        for body in bodies[index::concurrency]:
            began = time.perf_counter()
            connection.request("POST", path, body, headers)
            response = connection.getresponse()
            payload = response.read()
            latencies[index].append(time.perf_counter() - began)
            if response.status != 200:
                errors.append(payload.decode()[:200])
        connection.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    cpu_before = cpu_seconds(server_pid) if server_pid else 0.0
    threads_before = thread_cpu_seconds(server_pid) if server_pid else {}
    store_before = cpu_seconds(store_pid) if store_pid else 0.0
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} failed requests, e.g. {errors[0]}")
    summary = percentiles([x for part in latencies for x in part])
    if server_pid:
        summary["cpu_us"] = (cpu_seconds(server_pid) - cpu_before) / len(bodies) * 1e6
        used = {tid: seconds - threads_before.get(tid, 0.0) for tid, seconds in thread_cpu_seconds(server_pid).items()}
        summary["loop_us"] = used.get(server_pid, 0.0) / len(bodies) * 1e6  # uvicorn's loop runs on the main thread
        summary["threads_us"] = sum(v for tid, v in used.items() if tid != server_pid) / len(bodies) * 1e6
    if store_pid:
        summary["store_us"] = (cpu_seconds(store_pid) - store_before) / len(bodies) * 1e6
    return summary, len(bodies) / elapsed


def floor_server(port: int) -> int:
    """The HTTP floor: a bare FastAPI POST endpoint that reads the body and answers a constant,
    served exactly as `python -m fraud_pipelines.serving` serves the app."""
    import uvicorn
    from fastapi import FastAPI, Request, Response

    app = FastAPI()
    globals()["Request"] = Request  # the endpoint's annotation is a string (postponed evaluation)

    @app.post("/floor")
    async def floor(request: Request) -> Response:
        await request.body()
        return Response(b'{"score":0.5}', media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, access_log=False, log_level="warning")
    return 0


def bench_http(home: Path, bodies: list[bytes], env: dict[str, str], label: str, logs: Path,
               floor: subprocess.Popen, floor_port: int, rows: list[dict], store_pid: int | None = None,
               repeats: int = 3) -> None:
    """Start the service on `home`, warm both servers up, then for c = 1, 8, 32 measure the floor,
    /predict and /predict?include_reasons=true on the same bodies, one after the other, `repeats`
    times (medians); then print how many requests the service's micro-batches held on average (from
    its log)."""
    port = _free_port()
    command = [sys.executable, "-m", "fraud_pipelines.serving", "--host", "127.0.0.1", "--port", str(port)]
    server = start(command, {"FRAUD_HOME": str(home), **env}, port, logs / f"{label}.log")
    try:
        warm, rest = bodies[:300], bodies[300:]
        hammer(port, warm, 4)
        hammer(port, warm, 4, REASONS)
        hammer(floor_port, warm, 4, "/floor")
        for concurrency in (1, 8, 32):
            rounds = []
            for number in range(1, repeats + 1):  # floor, /predict, +reasons, again: a busy moment hits all three
                load = os.getloadavg()[0]
                bare, floor_rate = hammer(floor_port, rest, concurrency, "/floor", floor.pid)
                predict, predict_rate = hammer(port, rest, concurrency, server_pid=server.pid, store_pid=store_pid)
                reasons, reasons_rate = hammer(port, rest, concurrency, REASONS, server_pid=server.pid,
                                               store_pid=store_pid)
                rounds.append({"floor": bare, "floor_rate": floor_rate, "predict": predict,
                               "predict_rate": predict_rate, "reasons": reasons, "reasons_rate": reasons_rate,
                               "load": load})
                if repeats > 1:
                    print(f"  {label:<6} c={concurrency:<3} round {number} (load {load:.1f}): p99 "
                          f"x{predict['p99'] / bare['p99']:.2f}, throughput {predict_rate / floor_rate:.0%}, "
                          f"reasons p99 x{reasons['p99'] / predict['p99']:.2f}", flush=True)
            row = {"store": label, "c": concurrency, **medians(rounds)}
            rows.append(row)
            print(f"  {label:<6} c={concurrency:<3} (load {load_range(rounds)}{rounds_note(repeats)})\n"
                  f"    {'floor':<16} {figures_line(row['floor'], row['floor_rate'])}\n"
                  f"    {'/predict':<16} {figures_line(row['predict'], row['predict_rate'])}\n"
                  f"    {'+reasons':<16} {figures_line(row['reasons'], row['reasons_rate'])}\n"
                  f"    ratios: p99 x{row['p99_ratio']:.2f}, throughput {row['share']:.0%}"
                  f"  ({row['predict']['n']:.0f} requests each{rounds_note(repeats, ', round medians')})", flush=True)
    finally:
        stop(server)
    batching = [line for line in (logs / f"{label}.log").read_text().splitlines() if "micro-batches" in line]
    if batching:
        print(f"  {label}: {batching[-1].split(': ', 1)[-1]}", flush=True)


REASONS = "/predict?include_reasons=true"


def bench_in_process(home: Path, bodies: list[bytes], storage, label: str) -> None:
    """The request path without HTTP, stage by stage: validate the body, read the card state, build
    the vector, the trees, the calibration, the reason codes; and a write (the atomic merge)."""
    from feature_logic.request_features import utc_micros
    from fraud_pipelines.governance.reasons import reasons_for_vectors
    from fraud_pipelines.serving.card_states import CardStateStore
    from fraud_pipelines.serving.champion import load_serving_model
    from fraud_pipelines.serving.schemas import CardTokens, Transaction, request_rules
    from fraud_pipelines.serving.scorer import FraudScorer

    fs = storage.feature_store()
    mlflow = _mlflow(home)
    model = load_serving_model(mlflow, fs, mlflow.champion_version())
    states = CardStateStore(fs)
    reader = FraudScorer(states)
    context = {"rules": request_rules(), "card_tokens": CardTokens()}
    stages = ("validate the body", "card state read", "feature vector (read + features + transform)",
              "trees (raw score)", "calibrated score (trees + calibration)", "reason codes (Saabas, top 3)",
              "whole score, as /predict runs it", "add a charge (atomic merge)")
    timings: dict[str, list[float]] = {name: [] for name in stages}

    def timed(stage: str, call, *args):
        began = time.perf_counter()
        out = call(*args)
        timings[stage].append(time.perf_counter() - began)
        return out

    for body in bodies[:200]:  # warm-up
        reader.score(model, [Transaction.model_validate_json(body, context=context)], include_features=False)
    for body in bodies[200:]:
        t = timed("validate the body", partial(Transaction.model_validate_json, context=context), body)
        timed("card state read", states.get, t.cc_num)
        built = timed("feature vector (read + features + transform)", reader.build, model, t)
        timed("trees (raw score)", model._trees.predict, [built.vector])
        timed("calibrated score (trees + calibration)", model.predict, [built.vector])
        timed("reason codes (Saabas, top 3)", reasons_for_vectors, model, [built.vector], [built.features.as_dict()])
        timed("whole score, as /predict runs it", partial(reader.score, include_features=False), model, [t])
        timed("add a charge (atomic merge)", states.add_charge, t.cc_num, utc_micros(t.datetime), t.tid, t.latitude,
              t.longitude, t.amount)
    for name, seconds in timings.items():
        us = {k: v * 1e3 for k, v in percentiles(seconds).items() if k != "n"}
        print(f"  in-process {label:<6} {name:<46} p50 {us['p50']:5.0f} us  p95 {us['p95']:5.0f} us  "
              f"p99 {us['p99']:5.0f} us")
    idle_gap_cost(label, partial(reader.score, include_features=False), model,
                  [Transaction.model_validate_json(body, context=context) for body in bodies[200:1200]])


def idle_gap_cost(label: str, score, model, transactions: list) -> None:
    """The whole score of one charge back to back, then with the process idle (asleep) before each call,
    as a server is between requests at c=1, then with the same gap spent spinning: what running after
    an idle moment costs the same code (caches and cores taken by others meanwhile)."""
    gaps = (("back to back", 0.0, False), ("after 200 us asleep", 200e-6, False), ("after 1 ms asleep", 1e-3, False),
            ("after 1 ms spinning", 1e-3, True))
    figures = {}
    for name, gap, spin in gaps:
        seconds = []
        for transaction in transactions:
            if spin:
                until = time.perf_counter() + gap
                while time.perf_counter() < until:
                    pass
            elif gap:
                time.sleep(gap)
            began = time.perf_counter()
            score(model, [transaction])
            seconds.append(time.perf_counter() - began)
        figures[name] = float(np.median(seconds)) * 1e6
    spelled = ", ".join(f"{name} {us:.0f} us" for name, us in figures.items())
    print(f"  in-process {label:<6} whole score, median: {spelled} (load {os.getloadavg()[0]:.1f})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a $FRAUD_HOME this bench built and kept (--keep), with the same sizes "
                        "(default: build one)")
    parser.add_argument("--requests", type=int, default=2_000, help="requests per target and concurrency")
    parser.add_argument("--cards", type=int, default=5_000)
    parser.add_argument("--per-day", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3,
                        help="rounds of floor, /predict and +reasons at each concurrency (medians are reported)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    parser.add_argument("--floor-server", type=int, metavar="PORT", help=argparse.SUPPRESS)  # the floor, as a child
    args = parser.parse_args()
    if args.floor_server:
        return floor_server(args.floor_server)

    from fraud_pipelines.resources import StorageResource

    scratch = Path(tempfile.mkdtemp(prefix="bench_serving_"))
    home = Path(args.home) if args.home else scratch / "fraud_home"
    os.environ["FRAUD_HOME"] = str(home)  # the card token key lives there, for the build and the requests alike
    try:
        if not args.home:
            build_home(home, args.cards, args.per_day, args.days)
        pans = card_numbers(args.cards, args.per_day, args.days)
        print(f"machine: {os.cpu_count()} cores; {args.requests} requests per target and concurrency after 300 warm-up")
        bench_in_process(home, requests_for(home, 2_200, 1, pans), StorageResource(root=str(home)), "sqlite")
        floor_port = _free_port()
        floor = start([sys.executable, str(Path(__file__).resolve()), "--floor-server", str(floor_port)], {},
                      floor_port, scratch / "floor.log")
        rows: list[dict] = []
        try:
            bench_http(home, requests_for(home, args.requests + 300, 2, pans), {"FRAUD_ONLINE_STORE": "sqlite"},
                       "sqlite", scratch, floor, floor_port, rows, repeats=args.repeats)
            if shutil.which("redis-server") is None:
                print("  redis: skipped (redis-server is not installed)")
            else:
                bench_redis(home, args, scratch, floor, floor_port, rows, pans)
        finally:
            stop(floor)
        summary(rows)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"kept {scratch}")
    return 0


def bench_redis(home: Path, args, scratch: Path, floor: subprocess.Popen, floor_port: int, rows: list[dict],
                pans: dict[int, int]) -> None:
    """The same figures with the card state in a local redis-server."""
    from fraud_pipelines.resources import StorageResource

    port = _free_port()
    redis = start(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                   "no", "--dir", str(scratch)], {}, port, scratch / "redis.log")
    try:
        url = f"redis://127.0.0.1:{port}/0"
        storage = StorageResource(root=str(home), online_store="redis", redis_url=url)
        load_card_state(home, storage)
        bench_in_process(home, requests_for(home, 2_200, 3, pans), storage, "redis")
        bench_http(home, requests_for(home, args.requests + 300, 4, pans),
                   {"FRAUD_ONLINE_STORE": "redis", "FRAUD_REDIS_URL": url}, "redis", scratch, floor, floor_port, rows,
                   store_pid=redis.pid, repeats=args.repeats)
    finally:
        stop(redis)


def load_card_state(home: Path, storage) -> None:
    """Copy the card-state online rows from SQLite into Redis (what the assets would write there)."""
    import pyarrow as pa

    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.serving.groups import CARD_RECENT_CHARGES, CARD_VERSIONS

    sqlite_fs, redis_fs = StorageResource(root=str(home)).feature_store(), storage.feature_store()
    began = time.perf_counter()
    rows = 0
    for spec in (CARD_RECENT_CHARGES, CARD_VERSIONS):
        fg = spec.get_or_create(sqlite_fs)
        table = fg.online_table()
        keys = [tuple(k) for k in fg.read(columns=list(table.key_columns)).drop_duplicates().itertuples(index=False)]
        found = [r for r in sqlite_fs.online_store.read(table, keys, table.schema.names) if r is not None]
        data = pa.Table.from_pylist([dict(zip(table.schema.names, r)) for r in found], schema=table.schema)
        rows += redis_fs.online_store.write_batch(table, data)
    print(f"  redis: loaded {rows:,} card-state rows in {time.perf_counter() - began:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
