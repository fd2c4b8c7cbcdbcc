"""Benchmark of the feature store: point-in-time training data against a bare DuckDB ASOF JOIN on
the same Delta files, `as_of`, and online feature vectors against a bare SQLite primary-key SELECT.

Data: one spine row (label) per transaction; the `transactions` group (one row per transaction,
joined on tid) and `profiles` (~3 versions per card, joined on cc_num); 100k cards. Each case
runs in its own child process, once (so allocator caches of an earlier run do not count); its
peak memory is the child's high-water mark (VmHWM) reset after the store is opened. The training
data cases are repeated in fresh children, interleaved; figures are medians over `--repeats`.

Usage: python bench/bench_feature_store.py [--sizes 1M,10M] [--repeats 3] [--root DIR] [--keep] [--reuse]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fraud_pipelines.feature_store import FeatureStore  # noqa: E402

SIZES = {"1M": 1_000_000, "10M": 10_000_000}
CARDS = 100_000
DAYS = 90
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
CATEGORIES = np.array(["Grocery", "Restaurant/Cafeteria", "Health/Beauty", "Domestic Transport", "Clothing",
                       "Electronics", "Sports/Outdoors", "Holiday/Travel", "Cash Withdrawal", "Other"])
CITIES = np.array(["Oslo", "Rome", "Lima", "Kyiv", "Paris", "Quito", "Accra", "Hanoi"])
TX_FEATURES = ["category", "amount", "latitude", "longitude"]
PROFILE_FEATURES = ["city", "age", "credit_limit"]


# --- measuring -------------------------------------------------------------------------------

def reset_peak() -> None:
    """Restart this process's memory high-water mark (Linux)."""
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def peak_gb() -> float:
    """This process's memory high-water mark since the last reset, in GB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1e6
    return float("nan")


def timed(run, repeats: int = 1) -> dict:
    """Seconds of one `run()` (median if repeated) and the peak memory it reached."""
    reset_peak()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - started)
        del result
    return {"seconds": statistics.median(seconds), "peak_gb": peak_gb()}




def percentiles(samples_ns: list[int]) -> dict:
    """p50 / p99 in milliseconds."""
    values = np.array(samples_ns) / 1e6
    return {"p50_ms": float(np.percentile(values, 50)), "p99_ms": float(np.percentile(values, 99))}


# --- data ------------------------------------------------------------------------------------

def prepare(root: str, rows: int) -> dict:
    """Write the groups, a feature view for training data and one for serving."""
    rng = np.random.default_rng(7)
    cards = 4_000_000_000_000_000 + np.arange(CARDS, dtype=np.int64)
    start_us = int(START.timestamp() * 1e6)
    times = np.sort(rng.integers(start_us, start_us + DAYS * 86_400_000_000, rows))
    tx = pd.DataFrame({
        "tid": np.arange(rows, dtype=np.int64),
        "cc_num": cards[rng.integers(0, CARDS, rows)],
        "datetime": pd.to_datetime(times, unit="us", utc=True),
        "category": CATEGORIES[rng.integers(0, len(CATEGORIES), rows)],
        "amount": rng.lognormal(3.0, 1.2, rows).round(2),
        "latitude": rng.uniform(25, 49, rows),
        "longitude": rng.uniform(-124, -67, rows),
    })
    versions = 3
    profile_times = start_us - 30 * 86_400_000_000 + rng.integers(0, (DAYS + 30) * 86_400_000_000, CARDS * versions)
    profiles = pd.DataFrame({
        "cc_num": np.repeat(cards, versions),
        "event_time": pd.to_datetime(profile_times, unit="us", utc=True),
        "city": CITIES[rng.integers(0, len(CITIES), CARDS * versions)],
        "age": rng.integers(18, 90, CARDS * versions),
        "credit_limit": rng.uniform(500, 20_000, CARDS * versions).round(0),
    })
    labels = tx[["tid", "cc_num", "datetime"]].assign(is_fraud=(rng.random(rows) < 0.01).astype(np.int8))
    last = tx.groupby("cc_num").tail(1)
    card_stats = pd.DataFrame({"cc_num": last.cc_num, "datetime": last.datetime,
                               "last_amount": last.amount, "last_category": last.category})

    store = FeatureStore(root)
    figures = {}
    fgs = {
        "fraud_labels": store.get_or_create_feature_group("fraud_labels", primary_key=["tid"], event_time="datetime"),
        "transactions": store.get_or_create_feature_group("transactions", primary_key=["tid"], event_time="datetime"),
        "profiles": store.get_or_create_feature_group("profiles", primary_key=["cc_num"], event_time="event_time",
                                                      online_enabled=True),
        "card_stats": store.get_or_create_feature_group("card_stats", primary_key=["cc_num"], event_time="datetime",
                                                        online_enabled=True),
    }
    for name, frame in [
        ("fraud_labels", labels),
        ("transactions", tx),
        ("profiles", profiles),
        ("card_stats", card_stats),
    ]:
        metrics = fgs[name].insert(frame)
        figures[f"insert {name} ({len(frame):,} rows)"] = metrics["seconds"]
    day = (START + dt.timedelta(days=45), START + dt.timedelta(days=46))
    one_day = tx[(tx.datetime >= day[0]) & (tx.datetime < day[1])]
    started = time.perf_counter()
    fgs["transactions"].insert(one_day, replace_time_range=day)
    figures[f"re-insert one day with replace_time_range ({len(one_day):,} rows)"] = time.perf_counter() - started

    training = fgs["fraud_labels"].select_all().join(fgs["transactions"].select(TX_FEATURES), on=["tid"]).join(
        fgs["profiles"].select(PROFILE_FEATURES), on=["cc_num"])
    store.get_or_create_feature_view("bench_training", query=training, labels=["is_fraud"])
    serving = training.join(fgs["card_stats"].select(["last_amount", "last_category"]), on=["cc_num"])
    view = store.get_or_create_feature_view(
        "bench_serving", query=serving, labels=["is_fraud"],
        transformation_functions={"amount": "min_max_scaler", "category": "label_encoder", "city": "one_hot_encoder",
                                  "credit_limit": "standard_scaler", "last_amount": "robust_scaler"})
    version = view.create_training_data(end_time=START + dt.timedelta(days=DAYS))
    return {"figures": figures, "serving_version": version}


# --- cases (each in a child process) -----------------------------------------------------------

def case_training_data(root: str, repeats: int) -> dict:
    view = FeatureStore(root).get_feature_view("bench_training")
    holder = {}

    def run():
        holder["x"], holder["y"] = view.training_data()
        return holder.pop("x"), holder.pop("y")

    return timed(run, repeats)


def bare_sql(root: str, con) -> str:
    """The same join, hand-written: DuckDB ASOF LEFT JOINs over the groups' Parquet files."""
    from deltalake import DeltaTable

    for table in ("fraud_labels", "transactions", "profiles"):
        files = DeltaTable(f"{root}/offline/{table}_v1").file_uris()
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({files!r})")
    return (
        "SELECT l.*, t.category, t.amount, t.latitude, t.longitude, p.city, p.age, p.credit_limit "
        "FROM fraud_labels l "
        "ASOF LEFT JOIN transactions t ON l.tid = t.tid AND l.datetime >= t.datetime "
        "ASOF LEFT JOIN profiles p ON l.cc_num = p.cc_num AND l.datetime >= p.event_time"
    )


def bare_connection():
    """DuckDB as a user would open it: default settings (memory limit 80% of RAM), UTC."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    return con


def case_bare_asof(root: str, repeats: int, fetch: str) -> dict:
    con = bare_connection()
    sql = bare_sql(root, con)
    if fetch == "df":
        return timed(lambda: con.sql(sql).df(), repeats)
    return timed(lambda: con.sql(sql).to_arrow_table().to_pandas(self_destruct=True, split_blocks=True), repeats)


def case_as_of(root: str, repeats: int, variant: str) -> dict:
    """Each card's last transaction 60 days in: all history, the last 7 days, or bare DuckDB."""
    fg = FeatureStore(root).get_feature_group("transactions")
    t = START + dt.timedelta(days=60)
    if variant == "full":
        return timed(lambda: fg.as_of(t, by=["cc_num"]), repeats)
    if variant == "lookback":
        return timed(lambda: fg.as_of(t, by=["cc_num"], lookback=dt.timedelta(days=7)), repeats)
    con = bare_connection()
    fg.snapshot().register(con, "tx", event_time="datetime")
    return timed(lambda: con.sql(
        "SELECT * FROM tx WHERE datetime <= TIMESTAMPTZ '2025-03-02 00:00:00+00' "
        "QUALIFY row_number() OVER (PARTITION BY cc_num ORDER BY datetime DESC, tid DESC) = 1").df(), repeats)


def case_online(root: str, version: int) -> dict:
    store = FeatureStore(root)
    view = store.get_feature_view("bench_serving")
    view.init_serving(version)
    rng = random.Random(3)
    keys = [4_000_000_000_000_000 + rng.randrange(CARDS) for _ in range(2000)]
    passed = [{"category": rng.choice(list(CATEGORIES)), "amount": rng.uniform(1, 500), "latitude": 40.0,
               "longitude": -100.0} for _ in keys]
    for key, extra in zip(keys[:200], passed):  # warm up: page cache and statement cache
        view.get_feature_vector({"cc_num": key}, passed_features=extra)
    single = []
    for key, extra in zip(keys, passed):
        started = time.perf_counter_ns()
        view.get_feature_vector({"cc_num": key}, passed_features=extra)
        single.append(time.perf_counter_ns() - started)
    batches = []
    for i in range(200):
        chunk = [{"cc_num": k} for k in keys[(i * 100) % 1900:(i * 100) % 1900 + 100]]
        extras = passed[:len(chunk)]
        started = time.perf_counter_ns()
        view.get_feature_vectors(chunk, passed_features=extras)
        batches.append(time.perf_counter_ns() - started)
    con = sqlite3.connect(f"{root}/online/online.sqlite")
    bare = []
    for key in keys:
        started = time.perf_counter_ns()
        con.execute('SELECT * FROM "profiles_v1" WHERE "cc_num" = ?', (key,)).fetchone()
        bare.append(time.perf_counter_ns() - started)
    return {"get_feature_vector": percentiles(single), "get_feature_vectors x100": percentiles(batches),
            "bare SQLite PK SELECT": percentiles(bare), "vector_length": len(view.serving_columns())}


def child(argv: list[str]) -> None:
    kind, root, repeats = argv[0], argv[1], int(argv[2])
    if kind == "prepare":
        result = prepare(root, SIZES[argv[3]])
    elif kind == "training_data":
        result = case_training_data(root, repeats)
    elif kind in ("bare_arrow", "bare_df"):
        result = case_bare_asof(root, repeats, kind.removeprefix("bare_"))
    elif kind == "as_of":
        result = case_as_of(root, repeats, argv[3])
    else:
        result = case_online(root, int(argv[3]))
    print("RESULT " + json.dumps(result))


def run_child(*args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {args[0]} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--root", default=None, help="where to write the stores (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse stores kept by an earlier --keep run")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    base = Path(args.root or tempfile.mkdtemp(prefix="bench_fs_"))
    for size in args.sizes.split(","):
        root = str(base / size)
        print(f"\n== {size} spine rows ({SIZES[size]:,}), {CARDS:,} cards, store at {root}")
        marker = Path(root) / "prepared.json"
        if args.reuse and marker.exists():
            prepared = json.loads(marker.read_text())
        else:
            shutil.rmtree(root, ignore_errors=True)
            prepared = run_child("prepare", root, "1", size)
            marker.write_text(json.dumps(prepared))
        for name, seconds in prepared["figures"].items():
            print(f"  {name:<58} {seconds:7.2f} s")
        repeats = str(args.repeats)
        rows = {}
        for _ in range(args.repeats):  # interleaved, so a slow moment on the machine hits every case
            for name, kind in [("fv.training_data() (2 groups, ordered)", "training_data"),
                               ("bare ASOF JOIN -> Arrow -> pandas", "bare_arrow"),
                               ("bare ASOF JOIN -> .df()", "bare_df")]:
                rows.setdefault(name, []).append(run_child(kind, root, "1"))
        rows = {name: {k: statistics.median(r[k] for r in runs) for k in ("seconds", "peak_gb")}
                for name, runs in rows.items()}
        baseline = rows["bare ASOF JOIN -> Arrow -> pandas"]
        print(f"  {'point-in-time training data':<42} {'median s':>9} {'peak GB':>8} {'time x':>7} {'mem x':>6}")
        for name, r in rows.items():
            print(f"  {name:<42} {r['seconds']:9.2f} {r['peak_gb']:8.2f} "
                  f"{r['seconds'] / baseline['seconds']:7.2f} {r['peak_gb'] / baseline['peak_gb']:6.2f}")
        for name, variant in [("fg.as_of(t, by=cc_num)", "full"), ("fg.as_of(..., lookback=7 days)", "lookback"),
                              ("bare QUALIFY row_number() = 1", "bare")]:
            r = run_child("as_of", root, repeats, variant)
            print(f"  {name + ' (60 days in)':<42} {r['seconds']:9.2f} {r['peak_gb']:8.2f}")
        online = run_child("online", root, "1", str(prepared["serving_version"]))
        print(f"  online, in process ({online.pop('vector_length')} values per vector)    p50 ms   p99 ms")
        for name, r in online.items():
            print(f"  {name:<42} {r['p50_ms']:8.3f} {r['p99_ms']:8.3f}")
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    if not args.keep and args.root is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
