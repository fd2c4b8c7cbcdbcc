"""Command line: `python -m fraud_pipelines.cli demo` runs the main job end to end on the
embedded defaults and prints where everything is."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta

DEMO_DAYS = 60


def _partition_range(start: date, days: int) -> tuple[str, str]:
    return start.isoformat(), (start + timedelta(days=days - 1)).isoformat()


def run_pipeline(first: str, last: str) -> bool:
    """Run `fraud_pipeline_job` over [first, last] as one run on the persistent instance."""
    import dagster as dg

    from fraud_pipelines.definitions import defs

    instance = dg.DagsterInstance.get()
    job = defs.resolve_job_def("fraud_pipeline_job")
    result = job.execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        tags={"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last},
    )
    if not result.success:
        failed = [e for e in result.all_events if e.event_type_value in ("STEP_FAILURE", "ASSET_CHECK_EVALUATION")]
        print("\nThe run failed:", file=sys.stderr)
        for event in failed:
            data = getattr(event.event_specific_data, "asset_check_evaluation", None) or event.event_specific_data
            if event.event_type_value == "ASSET_CHECK_EVALUATION" and getattr(data, "passed", True):
                continue
            print(f"  - {event.step_key}: {event.message}", file=sys.stderr)
            description = getattr(data, "description", None)
            if description:
                print("    " + description.replace("\n", "\n    "), file=sys.stderr)
        print(f"Open the run in the UI for details: make ui, then the run {result.run_id}.", file=sys.stderr)
    return result.success


def summary() -> str:
    """Tables, rows, partitions and where everything lives."""
    from fraud_pipelines.resources import StorageResource
    from fraud_pipelines.settings import fraud_home

    storage = StorageResource()
    lines = [f"Everything lives under {fraud_home()}", "", "Raw tables (Delta):"]
    for name in ("transactions", "fraud_labels", "profiles", "credit_cards"):
        table = storage.raw_table(name)
        if not table.exists():
            lines.append(f"  {name:<14} (not materialized)")
            continue
        days = table.days() if table.partitioned else []
        span = f", {len(days)} daily partitions {days[0]}..{days[-1]}" if days else ""
        lines.append(f"  {name:<14} {table.count():>10,} rows{span}  v{table.version()}  {table.uri}")
    lines += [
        "",
        f"Dagster storage: {os.environ.get('DAGSTER_HOME')}",
        "Open the Dagster UI: make ui   (then http://127.0.0.1:3000)",
    ]
    return "\n".join(lines)


def demo(args: argparse.Namespace) -> int:
    from fraud_pipelines.settings import ensure_dagster_home, start_date

    ensure_dagster_home()
    start = date.fromisoformat(args.start) if args.start else start_date()
    first, last = _partition_range(start, args.days)
    print(f"Running fraud_pipeline_job for {first}..{last} ({args.days} days) as one run")
    began = time.perf_counter()
    ok = run_pipeline(first, last)
    print(f"\nFinished in {time.perf_counter() - began:.0f}s\n")
    print(summary())
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="fraud_pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("demo", help="run the main job end to end on the embedded defaults")
    run.add_argument("--days", type=int, default=int(os.environ.get("FRAUD_DEMO_DAYS", DEMO_DAYS)))
    run.add_argument("--start", default=None, help="first day, YYYY-MM-DD (default: FRAUD_START_DATE)")
    run.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
