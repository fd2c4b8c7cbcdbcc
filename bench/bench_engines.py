"""The store beside the bare engines it is built on, in one run: point-in-time training data
(1M and 5M spine rows x 2 joined groups) against bare DuckDB ASOF joins, pandas `merge_asof` and
polars `join_asof` (when installed); the features day by day and in 10-day chunks against their
bare DuckDB equivalent (like for like: the project's row computes both feature groups, the
`transactions` rows and their 4-hour aggregates, so "bare-full" is one DuckDB query doing that same
work; "bare-windows", the window query alone with its input precomputed, is printed beside it, with
each side's pieces: see `bench_features`); 100 online vectors against a bare SQLite `IN` per group.

Every case runs in a fresh process, once per repeat, and the repeats are interleaved (case A, B,
C, then A, B, C again), so a busy moment on the shared machine hits every case alike; figures are
medians over the repeats, ratios are against the fastest bare engine of the same run, and the
load average is printed with each block. Peak memory is the case process's high-water mark
(VmHWM), restarted once its inputs are in place (store opened, charges generated).
The data are `bench_feature_store`'s (PIT, online) and `bench_features`' (window features).

With `--before SRC` (a checkout of an earlier commit, e.g. `git archive <commit> | tar -x -C SRC`),
the project's cases also run on that code, interleaved with the others ("... before" rows).

Usage: python bench/bench_engines.py [--sizes 1M,5M] [--repeats 3] [--only pit,features,online]
       [--root DIR --keep | --reuse] [--before SRC]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_feature_store as fs  # noqa: E402

PIT_SIZES = {"1M": 1_000_000, "5M": 5_000_000}
PIT_CASES = ("project", "duckdb", "duckdb-ordered", "pandas", "polars")
FEATURE_CASES = ("bare-full", "bare-transactions", "bare-windows", "daily", "10-day")
ONLINE_BATCHES = 300
TX_COLUMNS = ["tid", "datetime", *fs.TX_FEATURES]
PROFILE_COLUMNS = ["cc_num", "event_time", *fs.PROFILE_FEATURES]


def measured(run) -> dict:
    """Wall seconds, CPU seconds (all threads of this process) and peak GB of one `run()`. On a
    shared, loaded machine the CPU seconds are the steadier figure; both are reported."""
    fs.reset_peak()
    cpu, started = sum(os.times()[:2]), time.perf_counter()
    result = run()
    seconds, cpu = time.perf_counter() - started, sum(os.times()[:2]) - cpu
    del result
    return {"seconds": seconds, "cpu": cpu, "peak_gb": fs.peak_gb()}


def load() -> str:
    """The 1, 5 and 15 minute load averages, as text."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- point-in-time cases ------------------------------------------------------------------------

def group_files(root: str, table: str) -> list[str]:
    """Local Parquet paths of a feature group's current Delta version."""
    from deltalake import DeltaTable

    return [uri.removeprefix("file://") for uri in DeltaTable(f"{root}/offline/{table}_v1").file_uris()]


def pit_case(case: str, root: str) -> dict:
    """One point-in-time join of the labels spine with transactions (on tid) and profiles (on
    cc_num), ending as a pandas DataFrame; seconds and peak GB."""
    if case == "project":
        view = fs.FeatureStore(root).get_feature_view("bench_training")
        return measured(lambda: view.training_data())
    if case.startswith("duckdb"):
        con = fs.bare_connection()
        sql = fs.bare_sql(root, con)
        if case == "duckdb-ordered":
            sql += " ORDER BY l.datetime, l.tid"
        return measured(lambda: con.sql(sql).to_arrow_table().to_pandas(self_destruct=True, split_blocks=True))
    files = {t: group_files(root, t) for t in ("fraud_labels", "transactions", "profiles")}
    if case == "pandas":
        return measured(lambda: pandas_asof(files))
    if case == "polars":
        return measured(lambda: polars_asof(files))
    raise SystemExit(f"unknown case {case}")


def pandas_asof(files: dict[str, list[str]]):
    """The join with pandas `merge_asof`: read the Parquet files, sort by time, two as-of merges."""
    import pandas as pd
    import pyarrow.parquet as pq

    def read(table: str, columns: list[str] | None = None) -> pd.DataFrame:
        return pq.ParquetDataset(files[table]).read(columns=columns).to_pandas(split_blocks=True, self_destruct=True)

    spine = read("fraud_labels").sort_values("datetime", kind="stable")
    tx = read("transactions", TX_COLUMNS).sort_values("datetime", kind="stable")
    out = pd.merge_asof(spine, tx.rename(columns={"datetime": "__tx_time"}), left_on="datetime",
                        right_on="__tx_time", by="tid")
    profiles = read("profiles", PROFILE_COLUMNS).sort_values("event_time", kind="stable")
    return pd.merge_asof(out, profiles, left_on="datetime", right_on="event_time", by="cc_num")


def polars_asof(files: dict[str, list[str]]):
    """The join with polars `join_asof` (backward: latest right time <= left time), to pandas."""
    import polars as pl

    spine = pl.read_parquet(files["fraud_labels"]).sort("datetime")
    tx = pl.read_parquet(files["transactions"], columns=TX_COLUMNS).sort("datetime")
    profiles = pl.read_parquet(files["profiles"], columns=PROFILE_COLUMNS).sort("event_time")
    out = spine.join_asof(tx.rename({"datetime": "__tx_time"}), left_on="datetime", right_on="__tx_time", by="tid")
    out = out.join_asof(profiles, left_on="datetime", right_on="event_time", by="cc_num")
    return out.to_pandas()


# --- online vectors -----------------------------------------------------------------------------

def online_case(root: str, version: int) -> dict:
    """p50 of 100-key batches: `get_feature_vectors` against one bare `SELECT ... IN (...)` per
    online group of the view, alternating batch by batch on the same keys."""
    view = fs.FeatureStore(root).get_feature_view("bench_serving")
    view.init_serving(version)
    rng = random.Random(3)
    keys = [4_000_000_000_000_000 + rng.randrange(fs.CARDS) for _ in range(100 * ONLINE_BATCHES)]
    passed = [{"category": rng.choice(list(fs.CATEGORIES)), "amount": rng.uniform(1, 500), "latitude": 40.0,
               "longitude": -100.0} for _ in range(100)]
    con = sqlite3.connect(f"{root}/online/online.sqlite")
    tables = {"profiles_v1": fs.PROFILE_FEATURES, "card_stats_v1": ["last_amount", "last_category"]}

    def bare(chunk: list[int]) -> list:
        marks = ", ".join("?" * len(chunk))
        return [con.execute(f'SELECT "cc_num", {", ".join(columns)} FROM "{table}" WHERE "cc_num" IN ({marks})',
                            chunk).fetchall() for table, columns in tables.items()]

    def project(chunk: list[int]) -> list:
        return view.get_feature_vectors([{"cc_num": k} for k in chunk], passed_features=passed)

    samples: dict[str, list[int]] = {"project": [], "sqlite": []}
    for i in range(ONLINE_BATCHES):
        chunk = keys[i * 100:(i + 1) * 100]
        pair = [("project", project), ("sqlite", bare)]
        for name, read in pair if i % 2 else pair[::-1]:
            started = time.perf_counter_ns()
            read(chunk)
            if i >= 20:  # the first batches warm the page and statement caches
                samples[name].append(time.perf_counter_ns() - started)
    return {name: statistics.median(values) / 1e6 for name, values in samples.items()}


# --- driver -------------------------------------------------------------------------------------

def child(argv: list[str]) -> None:
    kind = argv[0]
    if kind == "prepare":
        result = fs.prepare(argv[1], PIT_SIZES[argv[2]])
    elif kind == "pit":
        result = pit_case(argv[1], argv[2])
    elif kind == "online":
        result = online_case(argv[1], int(argv[2]))
    else:
        raise SystemExit(f"unknown child {kind}")
    print("RESULT " + json.dumps(result))


BEFORE: Path | None = None  # the earlier checkout of --before


def script_in(source: Path | None, name: str) -> str:
    """A bench script run on the code of `source` (this checkout when None): bench scripts put
    their own checkout first on sys.path."""
    if source is None:
        return str(Path(__file__).with_name(name))
    target = source / "bench" / name
    if name == Path(__file__).name or not target.exists():
        shutil.copy(Path(__file__).with_name(name), target)
    return str(target)


def run_child(*args: str, source: Path | None = None) -> dict:
    out = subprocess.run([sys.executable, script_in(source, Path(__file__).name), "--child", *args],
                         capture_output=True, text=True, check=False, env={**os.environ, "PYTHONHASHSEED": "0"})
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"child {args} failed ({out.returncode}):\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def feature_child(case: str) -> dict:
    """One run of a `bench_features` case on its 1M charges (9 days, 100k cards)."""
    source = BEFORE if case.endswith(" before") else None
    out = subprocess.run([sys.executable, script_in(source, "bench_features.py"), "--repeats", "1",
                          "--child", case.removesuffix(" before"), "1M"], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(cases: list[str], repeats: int, run) -> dict[str, list[dict]]:
    """`run(case)` for every case, `repeats` rounds, case order rotating each round."""
    results: dict[str, list[dict]] = {c: [] for c in cases}
    for round_ in range(repeats):
        for case in cases[round_ % len(cases):] + cases[:round_ % len(cases)]:
            results[case].append(run(case))
    return results


def median_of(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def pit_block(root: str, size: str, repeats: int, prepare: bool) -> None:
    if prepare:
        shutil.rmtree(root, ignore_errors=True)
        prepared = run_child("prepare", root, size)
        Path(root, "prepared.json").write_text(json.dumps(prepared))
    cases = [c for c in PIT_CASES if c != "polars" or _has("polars")] + (["project before"] if BEFORE else [])
    before = load()
    runs = interleaved(cases, repeats, lambda case: run_child(
        "pit", case.removesuffix(" before"), root, source=BEFORE if case.endswith(" before") else None))
    rows = {c: (median_of(r, "seconds"), median_of(r, "cpu"), median_of(r, "peak_gb")) for c, r in runs.items()}
    fastest = min((c for c in rows if not c.startswith("project")), key=lambda c: rows[c][0])
    fastest_cpu = min((c for c in rows if not c.startswith("project")), key=lambda c: rows[c][1])
    print(f"\nPIT, {size} spine rows x 2 groups ({fs.CARDS:,} cards), median of {repeats}; "
          f"load {before} -> {load()}{'' if 'polars' in cases else '; polars not installed'}")
    print(f"  {'case':<16}{'seconds':>9}{'x fastest':>11}{'CPU s':>8}{'x fastest':>11}{'peak GB':>9}"
          f"{'mem x duckdb':>14}  runs (s)")
    for case, (seconds, cpu, peak) in rows.items():
        print(f"  {case:<16}{seconds:9.2f}{seconds / rows[fastest][0]:11.2f}{cpu:8.2f}"
              f"{cpu / rows[fastest_cpu][1]:11.2f}{peak:9.2f}{peak / rows['duckdb'][2]:14.2f}  "
              f"{[round(r['seconds'], 2) for r in runs[case]]}")
    print(f"  fastest bare engine: {fastest} (wall), {fastest_cpu} (CPU)")


def features_block(repeats: int) -> None:
    before = load()
    cases = list(FEATURE_CASES) + ([f"{c} before" for c in FEATURE_CASES if not c.startswith("bare")] if BEFORE else [])
    runs = interleaved(cases, repeats, feature_child)
    full, windows = (median_of(runs[c], "seconds") for c in ("bare-full", "bare-windows"))
    print(f"\nFeatures (both groups), 1M charges, 100k cards, 9 days, median of {repeats}; load {before} -> {load()}")
    print("  x full: over bare-full (the same work in one DuckDB query); x windows: over the window query alone")
    print("  CPU s: user + system seconds of every thread (the steadier figure on a loaded machine)")
    print(f"  {'case':<19}{'seconds':>9}{'x full':>8}{'x windows':>10}{'CPU s':>7}{'peak MB':>9}  runs (s)")
    for case, results in runs.items():
        seconds = median_of(results, "seconds")
        cpu = median_of(results, "cpu") if "cpu" in results[0] else float("nan")
        print(f"  {case:<19}{seconds:9.2f}{seconds / full:8.2f}{seconds / windows:10.2f}{cpu:7.2f}"
              f"{median_of(results, 'run_peak_rss_mb'):9.0f}  {[round(r['seconds'], 2) for r in results]}")
    for case, results in runs.items():
        if case.startswith("bare"):
            continue
        stage = {name: statistics.median(r["stages"][name] for r in results) for name in results[0]["stages"]}
        transactions = stage["transaction_features"] + stage["carry-over"]
        print(f"  {case} pieces: transactions group {transactions:.2f} s = "
              f"{transactions / median_of(runs['bare-transactions'], 'seconds'):.2f}x bare-transactions, "
              f"window aggregates {stage['window_aggregates']:.2f} s = {stage['window_aggregates'] / windows:.2f}x "
              "bare-windows")
    same = {r["detail"] for case, results in runs.items() if not case.startswith("bare") for r in results}
    print(f"  daily and 10-day outputs identical (digests): {len(same) == 1}")


def online_block(root: str, repeats: int) -> None:
    version = json.loads(Path(root, "prepared.json").read_text())["serving_version"]
    before = load()
    sources = {"now": None, **({"before": BEFORE} if BEFORE else {})}
    runs = interleaved(list(sources), repeats, lambda name: run_child("online", root, str(version),
                                                                      source=sources[name]))
    print(f"\n100 online vectors (2 online groups, 5 transformations), p50 ms over {ONLINE_BATCHES - 20} "
          f"batches, median of {repeats} processes; load {before} -> {load()}")
    for name, results in runs.items():
        project, bare = (statistics.median(r[k] for r in results) for k in ("project", "sqlite"))
        print(f"  {name:<7} bare SQLite IN per group {bare:8.3f}   get_feature_vectors {project:8.3f}   "
              f"x bare {project / bare:.2f}")


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,5M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", default="pit,features,online")
    parser.add_argument("--root", default=None, help="where to write the stores (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the stores afterwards")
    parser.add_argument("--reuse", action="store_true", help="reuse stores kept by an earlier --keep run")
    parser.add_argument("--before", type=Path, default=None, help="an earlier checkout to run the project on too")
    parser.add_argument("--child", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    global BEFORE
    BEFORE = args.before
    if args.child:
        child(args.child)
        return
    blocks = set(args.only.split(","))
    base = Path(args.root or tempfile.mkdtemp(prefix="bench_engines_"))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {load()}")
    sizes = args.sizes.split(",")
    if "online" in blocks and "1M" not in sizes:
        sizes.insert(0, "1M")
    for size in sizes:
        root = str(base / size)
        prepare = not (args.reuse and Path(root, "prepared.json").exists())
        if "pit" in blocks:
            pit_block(root, size, args.repeats, prepare)
        elif prepare and size == "1M" and "online" in blocks:
            shutil.rmtree(root, ignore_errors=True)
            Path(root).mkdir(parents=True)
            Path(root, "prepared.json").write_text(json.dumps(run_child("prepare", root, size)))
        if size == "1M" and "online" in blocks:
            online_block(root, args.repeats)
    if "features" in blocks:
        features_block(args.repeats)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
