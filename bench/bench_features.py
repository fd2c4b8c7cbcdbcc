"""Benchmark of the feature pipeline (transaction_features + window_aggregates) against bare DuckDB
queries, on 1M and 10M charges.

Like for like: the project's row computes both feature groups -- `transactions` (each charge's
owner and card versions as of it, age, days to expiry, distance and time since the card's previous
charge) and `transactions_4h_aggs` (the four 4-hour aggregates) -- so its bare equivalent is
"bare-full": one DuckDB query doing the same work from the same raw tables (LAG over each card's
charges, two ASOF joins for the histories, the same window aggregates with the same (t - 4h, t]
frame), fed Arrow tables (its fastest input, converted before the timer), fetched as Arrow,
unordered (the project's rows come sorted by (datetime, tid)). The pieces are also timed on both
sides: "bare-transactions" (the query's `transactions` part alone) beside the project's
transaction_features + carry-over stages, and "bare-windows" (the window query alone, with
loc_delta precomputed outside the timer: the baseline of earlier rounds) beside the project's
window_aggregates stage. `--verify` checks the full query's values against the project's.

Each case runs in its own child process, so its peak RSS is its own ("run peak" restarts the
high-water mark after the data is generated). The pipeline runs the way the Dagster assets run
it: day by day, each day with its 4-hour lookback and the cards' previous charges carried over
("daily"), or in 10-day chunks as a backfill would ("10-day"); both must give the same output
digests. The bare queries run over all days at once on every core DuckDB sees.
Usage: python bench/bench_features.py [--sizes 1M,10M] [--repeats 3]; one call over all days at
once, for comparison: python bench/bench_features.py --child whole 10M --repeats 1
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feature_logic.schema import CATEGORIES  # noqa: E402
from feature_logic.transactions import (  # noqa: E402
    PREVIOUS_COLUMNS,
    last_transaction_per_card,
    transaction_features,
)
from feature_logic.windows import WINDOW_INPUT_COLUMNS, window_aggregates  # noqa: E402

try:  # bench_engines --before runs this file on earlier checkouts too, which had no prepared histories
    from feature_logic.transactions import prepare_histories  # noqa: E402
except ImportError:  # pragma: no cover

    def prepare_histories(profiles, credit_cards):
        return profiles, credit_cards

DAY_US = 86_400_000_000
WINDOW = dt.timedelta(hours=4)
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
SHAPES = {  # rows -> (cards, days): ~111k charges a day over ~100k cards, as in production
    "1M": (100_000, 9),
    "10M": (100_000, 90),
}
ROWS_PER_DAY = 111_111


def generate(cards: int, days: int, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Raw transactions (sorted by time), profiles (~1.3 versions a card) and credit_cards (~1.2)."""
    rng = np.random.default_rng(seed)
    start_us = pd.Timestamp(START).value // 1000
    horizon_us = days * DAY_US
    cc_nums = np.sort(rng.choice(9 * 10**15, cards, replace=False)) + 10**15
    home_lat = rng.uniform(25.0, 49.0, cards)
    home_lon = rng.uniform(-124.0, -67.0, cards)
    activity = rng.gamma(1.5, 1.0 / 1.5, cards)  # some cards charge far more often than others

    n = ROWS_PER_DAY * days
    card = rng.choice(cards, n, p=activity / activity.sum())
    micros = start_us + rng.integers(0, horizon_us, n)
    bursts = rng.random(n) < 0.02  # a few charges follow another of the same card within minutes
    micros[bursts] = micros[np.maximum(np.flatnonzero(bursts) - 1, 0)]
    card[bursts] = card[np.maximum(np.flatnonzero(bursts) - 1, 0)]
    micros[bursts] += rng.integers(1, 600_000_000, bursts.sum())
    micros = np.minimum(micros, start_us + horizon_us - 1)
    order = np.argsort(micros, kind="stable")
    card, micros = card[order], micros[order]
    far = rng.random(n) < 0.05
    transactions = pd.DataFrame(
        {
            "tid": np.arange(n, dtype=np.int64),
            "cc_num": cc_nums[card],
            "datetime": pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC"),
            "category": np.array(CATEGORIES, dtype=object)[rng.integers(0, len(CATEGORIES), n)],
            "amount": np.round(rng.lognormal(3.5, 1.0, n), 2),
            "latitude": np.where(far, rng.uniform(25, 49, n), home_lat[card] + rng.normal(0, 0.05, n)),
            "longitude": np.where(far, rng.uniform(-124, -67, n), home_lon[card] + rng.normal(0, 0.05, n)),
        }
    )
    profiles = _versions(rng, cc_nums, start_us, horizon_us, extra_share=0.3)
    profiles["name"] = "owner"
    profiles["sex"] = np.array(["F", "M"], dtype=object)[rng.integers(0, 2, len(profiles))]
    # Dates as the raw tables' reader hands them over (Arrow date32 read with date_as_object=False).
    profiles["birthdate"] = pd.to_datetime(rng.integers(-15_000, 10_000, len(profiles)), unit="D").as_unit("ms")
    cities = np.array([f"City {i}" for i in range(500)], dtype=object)
    profiles["city"] = cities[rng.integers(0, len(cities), len(profiles))]
    profiles["country"] = "US"
    credit_cards = _versions(rng, cc_nums, start_us, horizon_us, extra_share=0.2)
    credit_cards["provider"] = "visa"
    credit_cards["expires"] = pd.to_datetime(rng.integers(20_200, 22_000, len(credit_cards)), unit="D").as_unit("ms")
    return transactions, profiles, credit_cards


def _versions(
    rng: np.random.Generator, cc_nums: np.ndarray, start_us: int, horizon_us: int, extra_share: float
) -> pd.DataFrame:
    """One version per card before the horizon, plus a later one for `extra_share` of the cards."""
    again = rng.random(len(cc_nums)) < extra_share
    keys = np.concatenate([cc_nums, cc_nums[again]])
    first = start_us - rng.integers(1, 3 * 365 * DAY_US, len(cc_nums))
    later = start_us + rng.integers(0, horizon_us, int(again.sum()))
    times = np.concatenate([first, later])
    return pd.DataFrame(
        {"cc_num": keys, "event_time": pd.DatetimeIndex(times.view("datetime64[us]")).tz_localize("UTC")}
    )


def run_pipeline(
    transactions: pd.DataFrame,
    profiles: pd.DataFrame,
    credit_cards: pd.DataFrame,
    days: int,
    chunk_days: int,
    stage_seconds: dict[str, float] | None = None,
    aggregates_out: list[pd.DataFrame] | None = None,
    features_out: list[pd.DataFrame] | None = None,
) -> str:
    """Run both feature groups chunk by chunk as the assets do; return digests of every output row.

    `stage_seconds` (if given) accumulates the time of each stage; "digest" is the bench's own
    checking, not part of the pipeline. `aggregates_out` and `features_out` (if given) collect the
    two groups' rows.
    """
    stages = stage_seconds if stage_seconds is not None else {}
    digests = {"features": hashlib.sha256(), "aggregates": hashlib.sha256()}
    bounds = transactions["datetime"].searchsorted(
        [START + dt.timedelta(days=d) for d in range(0, days + chunk_days, chunk_days)]
    )
    previous, lookback = None, None
    clock = time.perf_counter()
    profiles, credit_cards = prepare_histories(profiles, credit_cards)  # once per run, as the asset does
    _lap(stages, "transaction_features", clock)
    for chunk, first_day in enumerate(range(0, days, chunk_days)):
        chunk_start = START + dt.timedelta(days=first_day)
        chunk_end = START + dt.timedelta(days=min(first_day + chunk_days, days))
        clock = time.perf_counter()
        batch = transactions.iloc[bounds[chunk] : bounds[chunk + 1]]
        features = transaction_features(batch, profiles, credit_cards, previous)
        clock = _lap(stages, "transaction_features", clock)
        written = features[list(WINDOW_INPUT_COLUMNS)]  # what the aggregates asset reads back
        window_input = written if lookback is None else pd.concat([lookback, written], ignore_index=True)
        aggregates = window_aggregates(window_input, start=chunk_start, end=chunk_end, window=WINDOW)
        clock = _lap(stages, "window_aggregates", clock)
        carried = features[list(PREVIOUS_COLUMNS)]
        previous = last_transaction_per_card(carried if previous is None else pd.concat([previous, carried]))
        lookback = written.iloc[written["datetime"].searchsorted(chunk_end - WINDOW) :]
        clock = _lap(stages, "carry-over", clock)
        for name, frame in (("features", features), ("aggregates", aggregates)):
            digests[name].update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
        if aggregates_out is not None:
            aggregates_out.append(aggregates)
        if features_out is not None:
            features_out.append(features)
        _lap(stages, "digest", clock)
    return " ".join(f"{name}:{digest.hexdigest()[:16]}" for name, digest in digests.items())


def _lap(stages: dict[str, float], stage: str, since: float) -> float:
    now = time.perf_counter()
    stages[stage] = stages.get(stage, 0.0) + now - since
    return now


#: The four aggregates over the window `w` of `window_clause`, as both bare queries compute them.
WINDOW_AGGREGATES = """avg(amount) OVER w AS trans_volume_mavg,
       coalesce(stddev_samp(amount) OVER w, 0) AS trans_volume_mstd,
       count(*) OVER w AS trans_freq,
       avg(loc_delta_t_minus_1) OVER w AS loc_delta_mavg"""


def window_clause(window: str) -> str:
    """Each card's charges within `window` (a DuckDB interval) up to the current one."""
    return (f"WINDOW w AS (PARTITION BY cc_num ORDER BY datetime\n"
            f"             RANGE BETWEEN INTERVAL {window} PRECEDING AND CURRENT ROW)")


BARE_QUERY = f"""
SELECT tid, cc_num, datetime,
       {WINDOW_AGGREGATES}
FROM charges
{{window}}
"""


def with_loc_delta(transactions: pd.DataFrame) -> pd.DataFrame:
    """The raw charges plus loc_delta_t_minus_1, the one input of the bare query that SQL windows
    don't derive (computed before the timer starts)."""
    from feature_logic.on_demand import haversine_km
    from feature_logic.point_in_time import group_time_order, previous_positions

    micros = transactions["datetime"].to_numpy(dtype="datetime64[us]").view(np.int64)
    cards = transactions["cc_num"].to_numpy()
    previous = previous_positions(cards, group_time_order(cards, micros, transactions["tid"].to_numpy()))
    has_previous = previous >= 0
    source = np.maximum(previous, 0)
    lat, lon = transactions["latitude"].to_numpy(), transactions["longitude"].to_numpy()
    distance = haversine_km(lat[source], lon[source], lat, lon)
    return transactions.assign(loc_delta_t_minus_1=np.where(has_previous, distance, 0.0))


def run_bare_query(charges: pd.DataFrame, window: str = "4 HOURS", to: str = "arrow", threads: int | None = None):
    """The bare DuckDB window query over all charges at once, fetched as Arrow or pandas."""
    import duckdb

    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.register("charges", charges)
    relation = con.sql(BARE_QUERY.format(window=window_clause(window)))
    return relation.to_arrow_table() if to == "arrow" else relation.df()


#: The `transactions` group in SQL: each charge, its card's previous charge (LAG by datetime, tid),
#: the owner's and card's versions as of the charge (ASOF), and the derived columns as
#: `feature_logic.transactions` defines them (same constants; sin/cos may differ in the last bits).
BARE_TRANSACTIONS_QUERY = """
WITH ordered AS (
  SELECT *, lag(latitude) OVER c AS prev_lat, lag(longitude) OVER c AS prev_lon, lag(datetime) OVER c AS prev_time
  FROM charges WINDOW c AS (PARTITION BY cc_num ORDER BY datetime, tid)
)
SELECT t.tid, t.cc_num, t.datetime, t.category, t.amount, t.latitude, t.longitude,
  (epoch_us(t.datetime) - epoch_us(p.birthdate)) / 31556952000000.0 AS age_at_transaction,
  (epoch_us(k.expires) + 86400000000 - epoch_us(t.datetime)) / 86400000000.0 AS days_until_card_expires,
  p.sex, p.city AS lives_city,
  CASE WHEN t.prev_lat IS NULL THEN 0.0 ELSE 12742.0 * asin(sqrt(least(
      pow(sin(radians(t.latitude - t.prev_lat) * 0.5), 2)
      + cos(radians(t.prev_lat)) * cos(radians(t.latitude)) * pow(sin(radians(t.longitude - t.prev_lon) * 0.5), 2),
      1.0))) END AS loc_delta_t_minus_1,
  (epoch_us(t.datetime) - epoch_us(t.prev_time)) / 1e6 AS time_delta_t_minus_1
FROM ordered t
ASOF LEFT JOIN profiles p ON t.cc_num = p.cc_num AND t.datetime >= p.event_time
ASOF LEFT JOIN credit_cards k ON t.cc_num = k.cc_num AND t.datetime >= k.event_time
"""

#: Both groups in one query: the `transactions` rows with the four aggregates over (t - 4h, t].
BARE_FULL_QUERY = f"""
WITH features AS ({BARE_TRANSACTIONS_QUERY})
SELECT *,
       {WINDOW_AGGREGATES}
FROM features
{window_clause("4 HOURS - INTERVAL 1 MICROSECOND")}
"""


def arrow_inputs(*frames: pd.DataFrame) -> list:
    """The raw tables as Arrow, DuckDB's fastest input (converted before the timer starts)."""
    import pyarrow as pa

    return [pa.Table.from_pandas(frame, preserve_index=False) for frame in frames]


def run_bare_sql(sql: str, transactions, profiles, credit_cards):
    """One bare query over the raw tables (all days at once), fetched as Arrow."""
    import duckdb

    con = duckdb.connect()
    for name, table in (("charges", transactions), ("profiles", profiles), ("credit_cards", credit_cards)):
        con.register(name, table)
    return con.sql(sql).to_arrow_table()


def _rss_peak_mb() -> float:
    """Peak resident set size of this process since start, or since the last `_reset_rss_peak`."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_rss_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the VmHWM high-water mark
    except OSError:
        pass


BARE_CASES = {  # case -> (query, what it computes)
    "bare-full": (BARE_FULL_QUERY, "both groups: LAG + 2 ASOF + 4 windows, Arrow in and out"),
    "bare-transactions": (BARE_TRANSACTIONS_QUERY, "the transactions group alone: LAG + 2 ASOF"),
}


def child(case: str, size: str, repeats: int) -> dict:
    """One case in this process: generate the data, time `repeats` runs, report times and memory."""
    cards, days = SHAPES[size]
    transactions, profiles, credit_cards = generate(cards, days)
    if case.startswith("bare-windows"):
        transactions = with_loc_delta(transactions)
    elif case in BARE_CASES:
        transactions, profiles, credit_cards = arrow_inputs(transactions, profiles, credit_cards)
    generation_peak = _rss_peak_mb()
    _reset_rss_peak()
    times, cpus, detail, all_stages = [], [], "", []
    for _ in range(repeats):
        stages: dict[str, float] = {}
        cpu = sum(os.times()[:2])  # user + system seconds of every thread of this process
        began = time.perf_counter()
        if case == "bare-windows":
            detail = f"{run_bare_query(transactions, to='arrow').num_rows} rows: the window query alone (Arrow)"
        elif case == "bare-windows-1-thread":
            detail = f"{run_bare_query(transactions, to='arrow', threads=1).num_rows} rows (Arrow, SET threads = 1)"
        elif case in BARE_CASES:
            query, what = BARE_CASES[case]
            detail = f"{run_bare_sql(query, transactions, profiles, credit_cards).num_rows} rows: {what}"
        else:
            chunk_days = {"daily": 1, "10-day": 10, "whole": days}[case]
            detail = run_pipeline(transactions, profiles, credit_cards, days, chunk_days, stages)
        times.append(time.perf_counter() - began - stages.get("digest", 0.0))
        cpus.append(sum(os.times()[:2]) - cpu - stages.get("digest", 0.0))  # the digest runs on one thread
        all_stages.append(stages)
    return {
        "case": case,
        "size": size,
        "rows": len(transactions),
        "seconds": statistics.median(times),
        "all_seconds": [round(t, 2) for t in times],
        "cpu": statistics.median(cpus),
        "stages": {stage: round(statistics.median(s[stage] for s in all_stages), 3) for stage in all_stages[-1]},
        "peak_rss_mb": max(generation_peak, _rss_peak_mb()),
        "run_peak_rss_mb": _rss_peak_mb(),
        "detail": detail,
    }


def verify(size: str) -> dict:
    """The project's rows (daily) against the bare full query: exact for ids, times, counts,
    strings and nulls; the largest absolute difference for the other numbers."""
    cards, days = SHAPES[size]
    transactions, profiles, credit_cards = generate(cards, days)
    features: list[pd.DataFrame] = []
    aggregates: list[pd.DataFrame] = []
    run_pipeline(transactions, profiles, credit_cards, days, chunk_days=1, aggregates_out=aggregates,
                 features_out=features)
    ours = pd.concat(features, ignore_index=True).merge(pd.concat(aggregates, ignore_index=True),
                                                         on=["tid", "cc_num", "datetime"], validate="1:1")
    bare = run_bare_sql(BARE_FULL_QUERY, *arrow_inputs(transactions, profiles, credit_cards)).to_pandas()
    bare = bare.set_index("tid").loc[ours["tid"]].reset_index()
    exact, largest = [], {}
    for column in ours.columns:
        mine, theirs = ours[column], bare[column]
        if mine.dtype == object or column in ("tid", "cc_num", "datetime", "trans_freq"):
            if mine.fillna("null").equals(theirs.fillna("null")) or (mine == theirs).all():
                exact.append(column)
        elif (mine.isna() == theirs.isna()).all():
            largest[column] = float(np.nanmax(np.abs(mine.to_numpy(float) - theirs.to_numpy(float))))
    return {"rows": len(ours), "equal": exact, "max_abs_diff": largest,
            "columns_checked": len(exact) + len(largest), "columns": len(ours.columns)}


def main() -> None:
    """Run every case in its own child process and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1M,10M")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--verify", metavar="SIZE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], args.repeats)))
        return
    if args.verify:
        print(json.dumps(verify(args.verify)))
        return

    def spawn(*extra: str) -> dict:
        output = subprocess.run(
            [sys.executable, __file__, "--repeats", str(args.repeats), *extra],
            check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"},
        ).stdout
        return json.loads(output.strip().splitlines()[-1])

    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, median of {args.repeats} run(s) per case, "
          f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size in args.sizes.split(","):
        cases = ("bare-full", "bare-transactions", "bare-windows", "bare-windows-1-thread", "daily", "10-day")
        results = {case: spawn("--child", case, size) for case in cases}
        full, windows = results["bare-full"]["seconds"], results["bare-windows"]["seconds"]
        print(f"\n{size}: {results['daily']['rows']:,} charges, {SHAPES[size][0]:,} cards, {SHAPES[size][1]} days; "
              f"load now {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'case':<22}{'seconds':>9}{'x full':>8}{'x windows':>10}{'CPU s':>7}{'peak RSS MB':>13}"
              f"{'run peak MB':>13}  detail")
        print("(x full: over bare-full, the same work; x windows: over the window query alone, which computes less)")
        for case, result in results.items():
            seconds = result["seconds"]
            print(
                f"{case:<22}{seconds:>9.2f}{seconds / full:>8.2f}{seconds / windows:>10.2f}{result['cpu']:>7.2f}"
                f"{result['peak_rss_mb']:>13.0f}{result['run_peak_rss_mb']:>13.0f}  {result['detail']}"
            )
        for case in ("daily", "10-day"):
            stages = results[case]["stages"]
            print(f"{case} stages (s, median; digest is the bench's check, not timed): {stages}")
            transactions = stages["transaction_features"] + stages["carry-over"]
            print(f"  same pieces: transaction_features + carry-over {transactions:.2f} s = "
                  f"{transactions / results['bare-transactions']['seconds']:.2f}x bare-transactions; "
                  f"window_aggregates {stages['window_aggregates']:.2f} s = "
                  f"{stages['window_aggregates'] / windows:.2f}x bare-windows")
        same = results["daily"]["detail"] == results["10-day"]["detail"]
        print(f"daily and 10-day chunks give identical output digests: {same}")
        if size == "1M":
            print(f"project (daily) against bare-full, value by value: {spawn('--verify', size)}")


if __name__ == "__main__":
    main()
