"""Benchmark of reason codes (XGBoost's `pred_contribs`: exact TreeSHAP, or Saabas with
`approx_contribs`): what they add to batch scoring and to POST /predict.

Batch: the real scoring path (`scoring.batch.VersionScorer`: the feature view's batch data, the
champion's calibrated scores, the Delta write) over every day of a home built by the Dagster
graph, with reason codes for no charge, for alerts (exact TreeSHAP, Saabas) and for every charge
(Saabas; exact with --exact-all), interleaved in --repeats rounds and reported as medians with the
load average; then each method's cost per charge on its own, how often the two methods give the
same top reasons, and (on a small home) the cost at 10M charges extrapolated from the per-charge
figures (labelled as such). With --isolate each pass runs in its own process, which also gives each
setting's peak RSS: the way to measure a large home (e.g. 10M charges: `--home DIR --isolate
--settings none,alerts/saabas,all/saabas --skip-walk --skip-rest`; the home needs a champion).
Saabas contributions three ways on --walk-rows random rows, checked equal bit for bit: XGBoost's
`approx_contribs`, the vector-leaf trees batch scoring runs (`governance.saabas`: contributions and
margin in one prediction) and the service's one-row walk (`serving.flat_trees`, leaves + the same
table). REST: /predict p50/p99 with and without `include_reasons=true`
on the same requests, at concurrency 1 and 8. Targets (issue 16): batch with reasons <= 1.5x
without, /predict p99 with reasons <= 1.5x without.

Usage: python bench/bench_reason_codes.py [--home DIR] [--cards 2000] [--per-day 20000] [--days 5]
       [--repeats 3] [--settings none,alerts/treeshap,alerts/saabas,all/saabas] [--exact-all] [--isolate]
       [--first-days N] [--requests 1500] [--walk-rows 100000] [--skip-batch] [--skip-walk] [--skip-rest] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "true")

import warnings  # noqa: E402

warnings.filterwarnings("ignore")


def _serving_bench():
    """bench_serving.py's helpers (home building, server start/stop, the HTTP client)."""
    spec = importlib.util.spec_from_file_location("bench_serving", Path(__file__).with_name("bench_serving.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _batch_pass(scorer, days: list, mode: str, scratch: Path) -> tuple[float, int, int]:
    """Seconds to score and write every day once with reason codes for `mode`'s rows."""
    from fraud_pipelines.features.writes import chunks
    from fraud_pipelines.scoring.tables import SCORES
    from fraud_pipelines.tables import DeltaDayTable

    table = DeltaDayTable(str(scratch / f"scores_{mode}_{time.monotonic_ns()}"), SCORES, time_column="datetime")
    began = time.perf_counter()
    charges = alerts = 0
    for start, end in chunks(days):
        scored = scorer.score(start, end, reasons=mode)
        table.replace_days(scored, [d for d in days if start.date() <= d < end.date()])
        charges, alerts = charges + len(scored), alerts + int(scored["decision"].sum())
    seconds = time.perf_counter() - began
    shutil.rmtree(table.uri, ignore_errors=True)  # a 10M-charge pass writes GBs of reasons; keep none
    return seconds, charges, alerts


def _load_scorer(home: Path):
    """The champion's `VersionScorer` on `home` and the stored days of charges."""
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.scoring.batch import VersionScorer

    storage = StorageResource(root=str(home))
    mlflow = _serving_bench()._mlflow(home)
    champion = mlflow.get_champion()
    if champion is None:
        raise SystemExit(f"{home}: no champion registered (materialize registered_model first)")
    scorer = VersionScorer.load(mlflow, storage.feature_store(), champion.version, champion.training_dataset_version)
    days = [np.datetime64(d).astype(object) for d in storage.raw_table("transactions").days()]
    first = int(os.environ.get("BENCH_REASONS_FIRST_DAYS", "0"))
    return scorer, days[:first] if first else days


def _with_method(scorer, method: str):
    from dataclasses import replace

    return scorer if method == "-" else replace(scorer, explainer=replace(scorer.explainer, method=method))


def _child_pass(home: Path, setting: str, scratch: Path) -> None:
    """One pass of `setting` (MODE/METHOD) in this process, its figures printed as a JSON line."""
    import json

    mode, _, method = setting.partition("/")
    scorer, days = _load_scorer(home)
    seconds, charges, alerts = _batch_pass(_with_method(scorer, method or "-"), days, mode, scratch)
    print(json.dumps({"seconds": seconds, "charges": charges, "alerts": alerts}))


def _isolated_pass(home: Path, setting: str, scratch: Path) -> tuple[float, int, int, float, float]:
    """`setting`'s pass in a child process: its seconds, charges, alerts, peak RSS (GB) and CPU seconds."""
    import json
    import subprocess

    command = [sys.executable, __file__, "--home", str(home), "--child-pass", setting, "--scratch", str(scratch)]
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"pass {setting} failed; rerun it to see why: {' '.join(command)}")
        out.seek(0)
        figures = json.loads(out.read().strip().splitlines()[-1])
    return (figures["seconds"], figures["charges"], figures["alerts"], usage.ru_maxrss / 1024**2,
            usage.ru_utime + usage.ru_stime)


def bench_batch(home: Path, scratch: Path, repeats: int, settings: list[tuple[str, str]],
                isolate: bool = False) -> dict[str, float]:
    """Median seconds to score (and write) every stored day per setting (rows explained x method),
    the settings interleaved in each of `repeats` rounds so that load elsewhere hits them alike.
    `isolate`: each pass in its own process (cold start excluded from its seconds), with its peak RSS."""
    scorer, days = _load_scorer(home)
    trees = scorer.explainer.iteration_range[1]
    print(f"champion v{scorer.model.version}: {trees} trees, {len(scorer.model.feature_names)} features; "
          f"{len(days)} days; {'each pass in its own process' if isolate else 'passes in this process'}")
    if not isolate:
        _batch_pass(scorer, days, "none", scratch)  # warm caches (files, model) once
    runs: dict[tuple[str, str], list[float]] = {s: [] for s in settings}
    peaks: dict[tuple[str, str], list[float]] = {s: [] for s in settings}
    cpus: dict[tuple[str, str], list[float]] = {s: [] for s in settings}  # a child's own: less moved by load
    loads = []
    for round_ in range(repeats):
        for mode, method in settings:
            if isolate:
                seconds, charges, alerts, peak, cpu = _isolated_pass(home, f"{mode}/{method}", scratch)
                peaks[(mode, method)].append(peak)
                cpus[(mode, method)].append(cpu)
                extra = f", peak RSS {peak:.2f} GB, CPU {cpu:.0f} s"
            else:
                seconds, charges, alerts = _batch_pass(_with_method(scorer, method), days, mode, scratch)
                extra = ""
            runs[(mode, method)].append(seconds)
            loads.append(os.getloadavg()[0])
            print(f"  round {round_ + 1}: reasons={mode:<6} {method:<8} {seconds:7.1f} s  ({charges:,} charges, "
                  f"{alerts:,} alerts, load {loads[-1]:.1f}{extra})", flush=True)
    median = {s: float(np.median(v)) for s, v in runs.items()}
    base = median.get(("none", "-"))
    print(f"\n  medians of {repeats} interleaved rounds of {charges:,} charges, load average "
          f"{min(loads):.1f}-{max(loads):.1f}:")
    for (mode, method), seconds in median.items():
        ratio = seconds / base if base else float("nan")
        peak = ""
        if peaks[(mode, method)]:
            cpu = float(np.median(cpus[(mode, method)]))
            peak = f"  peak RSS {max(peaks[(mode, method)]):.2f} GB, CPU {cpu:.0f} s"
            if cpus.get(("none", "-")):
                peak += f" (x{cpu / np.median(cpus[('none', '-')]):.2f})"
        print(f"    reasons={mode:<6} {method:<8} {seconds:7.1f} s  x{ratio:.2f}"
              f"{'' if mode == 'none' else ('  ok <= 1.5x' if ratio <= 1.5 else '  MISSED 1.5x')}{peak}")
    per_row = bench_methods(scorer, days, charges, alerts, base) if base else {}
    return {f"{m}/{k}": v for (m, k), v in median.items()} | per_row


def bench_methods(scorer, days: list, charges: int, alerts: int, base: float) -> dict[str, float]:
    """Per charge: trees alone, exact TreeSHAP, Saabas; how often the two methods give the same top
    reasons on alert-like charges (the highest scored); on a small home the cost at 10M charges,
    extrapolated."""
    from fraud_pipelines.features.writes import day_window
    from fraud_pipelines.governance.reason_texts import reason_texts
    from fraud_pipelines.governance.reasons import as_text, top_reasons

    spine = scorer.transactions.read(*day_window(days[0]), columns=["tid", "datetime"]).head(50_000)
    features = scorer.feature_view.get_batch_data(spine=spine, primary_key=True)
    matrix = features[list(scorer.model.feature_names)].to_numpy(dtype=np.float64, na_value=np.nan)
    from dataclasses import replace

    explain = {m: replace(scorer.explainer, method=m) for m in ("treeshap", "saabas")}
    import xgboost as xgb

    def approx(m: np.ndarray) -> np.ndarray:  # XGBoost's own call, without the table
        return scorer.explainer.booster.predict(xgb.DMatrix(m, missing=np.nan), pred_contribs=True,
                                                approx_contribs=True, iteration_range=scorer.explainer.iteration_range,
                                                validate_features=False)
    explain["saabas"].contributions(matrix[:10])  # the table is built once per model, before timing
    cost: dict[str, float] = {}
    for name, run, rows in (("margin", lambda m: scorer.explainer.margins(m), matrix),
                            ("saabas", lambda m: explain["saabas"].contributions(m), matrix),
                            ("approx_contribs", approx, matrix),
                            ("treeshap", lambda m: explain["treeshap"].contributions(m), matrix[:500])):
        times = []
        for _ in range(3):
            began = time.perf_counter()
            run(rows)
            times.append((time.perf_counter() - began) / len(rows))
        cost[name] = float(np.median(times))
    print(f"\n  per charge (median of 3): trees' margin {cost['margin'] * 1e6:,.1f} us, Saabas "
          f"{cost['saabas'] * 1e6:,.1f} us (vector-leaf trees, with the margin; XGBoost's approx_contribs "
          f"{cost['approx_contribs'] * 1e6:,.1f} us), exact TreeSHAP {cost['treeshap'] * 1e6:,.0f} us "
          f"(x{cost['treeshap'] / cost['saabas']:,.0f} Saabas)")
    contributions = explain["saabas"].contributions(matrix)
    text = {"dicts": [], "texts": []}
    for _ in range(3):  # the JSON of each row: a dict and json.dumps per row, or reason_texts
        began = time.perf_counter()
        [as_text(r) for r in top_reasons(contributions, matrix, scorer.model.feature_names)]
        text["dicts"].append((time.perf_counter() - began) / len(matrix))
        began = time.perf_counter()
        reason_texts(contributions, matrix, scorer.model.feature_names)
        text["texts"].append((time.perf_counter() - began) / len(matrix))
    cost |= {f"json_{name}": float(np.median(v)) for name, v in text.items()}
    print(f"  writing a charge's reasons as JSON: {cost['json_dicts'] * 1e6:.1f} us with a dict and json.dumps, "
          f"{cost['json_texts'] * 1e6:.1f} us with reason_texts")
    score = scorer.model.predict_proba(features)
    top = matrix[np.argsort(-score, kind="stable")[:500]]  # the charges most like alerts
    names = scorer.model.feature_names
    exact = top_reasons(explain["treeshap"].contributions(top), top, names)
    approx = top_reasons(explain["saabas"].contributions(top), top, names)
    firsts = np.mean([e[0]["feature"] == a[0]["feature"] for e, a in zip(exact, approx)])
    ordered = np.mean([[r["feature"] for r in e] == [r["feature"] for r in a] for e, a in zip(exact, approx)])
    same_set = np.mean([{r["feature"] for r in e} == {r["feature"] for r in a} for e, a in zip(exact, approx)])
    in_top3 = np.mean([e[0]["feature"] in {r["feature"] for r in a} for e, a in zip(exact, approx)])
    print(f"  Saabas vs exact TreeSHAP on the 500 highest-scored of those charges: same first reason {firsts:.0%}, "
          f"TreeSHAP's first among Saabas' three {in_top3:.0%}, same three {same_set:.0%}, same three in the same "
          f"order {ordered:.0%}")
    rate = alerts / charges if charges else 0.0
    per_charge = base / charges
    if charges >= 5_000_000:
        print("  (the home holds millions of charges: its own figures are above, nothing extrapolated)")
    else:
        print(f"  extrapolated to 10M charges (not measured at that size; alert rate {rate:.2%}): scoring without "
              f"reasons {per_charge * 1e7 / 60:,.0f} min; reasons for alerts "
              f"+{cost['saabas'] * rate * 1e7 / 60:,.1f} min "
              f"(Saabas) or +{cost['treeshap'] * rate * 1e7 / 60:,.0f} min (exact); for every charge "
              f"+{cost['saabas'] * 1e7 / 60:,.0f} min (Saabas) or +{cost['treeshap'] * 1e7 / 3600:,.1f} h (exact) "
              f"on {os.cpu_count()} cores")
    return {"margin_us": cost["margin"] * 1e6, "saabas_us": cost["saabas"] * 1e6,
            "treeshap_us": cost["treeshap"] * 1e6, "json_dicts_us": cost["json_dicts"] * 1e6,
            "json_texts_us": cost["json_texts"] * 1e6, "same_first": float(firsts), "same_three": float(same_set)}


def bench_walk(home: Path, rows: int) -> None:
    """Saabas contributions of `rows` random rows (20 % missing values) by the champion: XGBoost's
    `approx_contribs`, the vector-leaf trees batch scoring runs, and the service's walk one row at a
    time (extrapolated from 5,000); all checked equal bit for bit."""
    import xgboost as xgb

    from fraud_pipelines.governance.saabas import SaabasTrees
    from fraud_pipelines.serving.flat_trees import FlatTrees

    mlflow = _serving_bench()._mlflow(home)
    loaded = mlflow.load_version(mlflow.champion_version())
    booster, width = loaded.classifier.get_booster(), len(loaded.feature_names)
    try:
        rounds = (0, int(loaded.classifier.best_iteration) + 1)
    except AttributeError:
        rounds = (0, 0)
    trees = FlatTrees(booster, width, rounds, float("nan"))
    began = time.perf_counter()
    table = SaabasTrees(booster, width, rounds, float("nan"))
    built = time.perf_counter() - began
    rng = np.random.default_rng(0)
    matrix = rng.normal(0.0, 50.0, size=(rows, width))
    matrix[rng.random(matrix.shape) < 0.2] = np.nan
    began = time.perf_counter()
    expected = booster.predict(xgb.DMatrix(matrix, missing=np.nan), pred_contribs=True, approx_contribs=True,
                               iteration_range=rounds, validate_features=False)
    library = time.perf_counter() - began
    began = time.perf_counter()
    vector_leaves = table.contributions(matrix)
    summed = time.perf_counter() - began
    began = time.perf_counter()
    one_by_one = np.array([trees.contributions_one(row) for row in matrix[:5_000]])
    per_row = (time.perf_counter() - began) / 5_000
    same = np.array_equal(one_by_one, expected[:5_000]) and np.array_equal(vector_leaves, expected)
    print(f"\n  Saabas contributions of {rows:,} rows ({len(trees.roots)} trees, depth {trees.depth}; load "
          f"{os.getloadavg()[0]:.1f}): XGBoost approx_contribs {library:.2f} s; vector-leaf trees {summed:.2f} s "
          f"(x{summed / library:.2f}; built in {built:.2f} s); the service's walk row by row {per_row * 1e6:.0f} us "
          f"a row; identical to XGBoost's: {same}")


def bench_rest(home: Path, requests: int, scratch: Path, sizes: tuple[int, int, int]) -> None:
    """/predict with and without include_reasons=true, same bodies, alternating per concurrency; `sizes`
    (cards, charges a day, days) are the generator's that built `home` (the requests post card numbers)."""
    serving = _serving_bench()
    bodies = serving.requests_for(home, requests + 300, 2, serving.card_numbers(*sizes))
    port = serving._free_port()
    command = [sys.executable, "-m", "fraud_pipelines.serving", "--host", "127.0.0.1", "--port", str(port)]
    server = serving.start(command, {"FRAUD_HOME": str(home), "FRAUD_ONLINE_STORE": "sqlite"}, port,
                           scratch / "serving.log")
    try:
        warm, rest = bodies[:300], bodies[300:]
        serving.hammer(port, warm, 4)
        serving.hammer(port, warm, 4, "/predict?include_reasons=true")
        print()
        for concurrency in (1, 8):
            # three alternating rounds on the same bodies: a burst of load elsewhere hits both sides alike
            rounds: dict[str, list] = {"without": [], "with": []}
            for _ in range(3):
                rounds["without"].append(serving.hammer(port, rest, concurrency))
                rounds["with"].append(serving.hammer(port, rest, concurrency, "/predict?include_reasons=true"))
            median = {side: {key: float(np.median([r[0][key] for r in runs])) for key in ("p50", "p99")} |
                      {"rate": float(np.median([r[1] for r in runs]))} for side, runs in rounds.items()}
            plain, reasons = median["without"], median["with"]
            ratio = reasons["p99"] / plain["p99"]
            print(f"  /predict c={concurrency} (median of 3 rounds of {len(rest)}): without reasons p50 "
                  f"{plain['p50']:.2f} ms p99 {plain['p99']:.2f} ms ({plain['rate']:,.0f}/s); with reasons p50 "
                  f"{reasons['p50']:.2f} ms p99 {reasons['p99']:.2f} ms ({reasons['rate']:,.0f}/s); "
                  f"p99 x{ratio:.2f} ({'ok' if ratio <= 1.5 else 'MISSED'} <= 1.5x)", flush=True)
    finally:
        serving.stop(server)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", help="a $FRAUD_HOME with a champion, batch scores and serving state")
    parser.add_argument("--cards", type=int, default=2_000)
    parser.add_argument("--per-day", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--requests", type=int, default=1_500)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds of the batch settings")
    parser.add_argument("--settings", default="none,alerts/treeshap,alerts/saabas,all/saabas",
                        help="batch settings MODE/METHOD (MODE none, alerts or all; METHOD saabas or treeshap)")
    parser.add_argument("--isolate", action="store_true",
                        help="each batch pass in its own process, with its peak RSS (for a large --home)")
    parser.add_argument("--first-days", type=int, default=0, help="score only the first N stored days (0: all)")
    parser.add_argument("--child-pass", help=argparse.SUPPRESS)
    parser.add_argument("--scratch", help=argparse.SUPPRESS)
    parser.add_argument("--exact-all", action="store_true",
                        help="also time exact TreeSHAP for every charge (minutes a thousand charges)")
    parser.add_argument("--walk-rows", type=int, default=100_000, help="rows of the tree walk against XGBoost")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument("--skip-walk", action="store_true")
    parser.add_argument("--skip-rest", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    if args.first_days:
        os.environ["BENCH_REASONS_FIRST_DAYS"] = str(args.first_days)  # the child passes read it too
    if args.child_pass:
        os.environ["FRAUD_HOME"] = args.home
        _child_pass(Path(args.home), args.child_pass, Path(args.scratch))
        return 0
    settings = [(mode, method or "-") for mode, _, method in (s.partition("/") for s in args.settings.split(","))]
    if args.exact_all:
        settings.append(("all", "treeshap"))
    bad = [f"{m}/{k}" for m, k in settings if m not in ("none", "alerts", "all") or
           k not in ("-", "saabas", "treeshap") or (m == "none") != (k == "-")]
    if bad:
        parser.error(f"--settings: {bad} are not MODE/METHOD (none; alerts or all / saabas or treeshap)")
    scratch = Path(tempfile.mkdtemp(prefix="bench_reasons_"))
    home = Path(args.home) if args.home else scratch / "fraud_home"
    os.environ["FRAUD_HOME"] = str(home)  # the card token key is kept in the home the service reads
    try:
        if not args.home:
            _serving_bench().build_home(home, args.cards, args.per_day, args.days)
        print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
        if not args.skip_batch:
            bench_batch(home, scratch, args.repeats, settings, args.isolate)
        if not args.skip_walk:
            bench_walk(home, args.walk_rows)
        if not args.skip_rest:
            bench_rest(home, args.requests, scratch, (args.cards, args.per_day, args.days))
    finally:
        if args.keep:
            print(f"kept {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
