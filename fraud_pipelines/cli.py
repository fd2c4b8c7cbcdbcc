"""Command line: `demo` runs the main job end to end on the embedded synthetic data; `run --contract`
runs the same graph on a user's files described by a data contract. Both print where everything is.
`rollback --to VERSION --reason "..."` moves the champion alias back to an earlier version;
`challenger --version N --reason "..."` (or `--clear`) puts a version in shadow or takes it out.
`forget --card PAN` erases one card everywhere (the right to erasure); `token --card PAN` prints its token."""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date, timedelta

DEMO_DAYS = 60


def _partition_range(start: date, days: int) -> tuple[str, str]:
    return start.isoformat(), (start + timedelta(days=days - 1)).isoformat()


def run_pipeline(first: str, last: str, ops: dict | None = None):
    """Run `fraud_pipeline_job` over [first, last] as one run on the persistent instance, shown on the
    UI's timeline under its code location (`fraud_pipelines.launch`); `ops` is run config per asset."""
    import dagster as dg

    from fraud_pipelines.launch import execute_job_here

    result = execute_job_here(
        "fraud_pipeline_job",
        instance=dg.DagsterInstance.get(),
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}, **({"ops": ops} if ops else {})},
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
            if event.event_type_value == "STEP_FAILURE":
                user = getattr(data, "user_failure_data", None)
                description = user.description if user is not None else getattr(data.error, "message", None)
            if description:
                print("    " + description.replace("\n", "\n    "), file=sys.stderr)
        print(f"Open the run in the UI for details: make ui, then the run {result.run_id}.", file=sys.stderr)
    return result


def summary(evaluation: dict | None = None) -> str:
    """Tables, rows, partitions, the model's headline metrics and where everything lives."""
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
    lines += ["", *feature_group_lines(storage), *model_lines(evaluation), "",
              f"Dagster storage: {os.environ.get('DAGSTER_HOME')}",
              "Open the Dagster UI: make ui   (then http://127.0.0.1:3000)"]
    return "\n".join(lines)


def feature_group_lines(storage) -> list[str]:
    """Rows per feature group."""
    from fraud_pipelines.feature_store.errors import NotFoundError
    from fraud_pipelines.features import groups

    fs = storage.feature_store()
    lines = [f"Feature groups (offline Delta tables, online SQLite) under {fs.root}:"]
    for spec in (groups.TRANSACTIONS, groups.TRANSACTIONS_4H_AGGS, groups.FRAUD_LABELS):
        try:
            rows = f"{len(spec.get_or_create(fs).read(columns=list(spec.primary_key))):>10,} rows"
        except NotFoundError:
            rows = "(not materialized)"
        online = "online" if spec.online_enabled else "offline only"
        lines.append(f"  {spec.name:<22} v{spec.version} {rows}  ({online})")
    return lines


def model_lines(evaluation: dict | None) -> list[str]:
    """Headline metrics of the model trained by this run, the champion and the MLflow UI command."""
    from fraud_pipelines.training.registry import ModelRegistry

    if evaluation is None:
        return []
    mlflow = ModelRegistry()
    metrics = evaluation["evaluations"]
    model, baseline = metrics["model"], metrics["baseline"]
    rate = model["n_positives"] / model["n_rows"]
    lines = ["", f"Model (MLflow run {evaluation['run_id']}, "
                 f"training dataset v{evaluation['training_dataset_version']}):",
             f"  test split: {model['n_rows']:,} charges, fraud rate {rate:.2%}",
             f"  PR-AUC {model['pr_auc']:.3f} (baseline {baseline['pr_auc']:.3f}), ROC-AUC {model['roc_auc']:.3f}, "
             f"recall at 1% FPR {model['recall_at_1pct_fpr']:.3f}",
             f"  at threshold {model['threshold']:.3f}: precision {model['precision']:.3f}, "
             f"recall {model['recall']:.3f}, "
             f"F1 {model['f1']:.3f}",
             *([f"  calibration {evaluation['calibration']['method']}: test Brier score "
                f"{evaluation['calibration']['test_brier_uncalibrated']:.5f} uncalibrated, "
                f"{evaluation['calibration']['test_brier_calibrated']:.5f} calibrated"]
               if "calibration" in evaluation else []),
             f"  {evaluation['promotion_reason']}",
             f"Champion: {mlflow.registered_model_name} v{mlflow.champion_version()} (alias 'champion')",
             f"Open the MLflow UI: {sys.prefix}/bin/mlflow ui --backend-store-uri {mlflow.resolved_tracking_uri()} "
             "--host 127.0.0.1 --port 5000",
             f"  then the training runs with their metrics: {mlflow.ui_url()}"]
    return lines


def demo(args: argparse.Namespace) -> int:
    from fraud_pipelines import contract as contracts
    from fraud_pipelines.settings import HomeFormatError, check_home_format, ensure_dagster_home, local_home

    try:
        check_home_format()
    except HomeFormatError as error:
        print(error, file=sys.stderr)
        return 2
    ensure_dagster_home()
    if not os.environ.get(contracts.CONTRACT_ENV):
        stored = contracts.contract_path()
        current = contracts.load(stored) if stored else None
        if current is not None and current.source != "synthetic":
            print(f"{local_home()} holds the data of contract '{current.name}' ({stored}); the demo's synthetic data "
                  "would mix with it. Use another FRAUD_HOME (e.g. FRAUD_HOME=.fraud-demo make demo).", file=sys.stderr)
            return 2
        if current is None or current.start_date is None:
            # The demo's data ends yesterday, so the partitions it shows are all filled.
            first = date.fromisoformat(args.start) if args.start else _yesterday() - timedelta(days=args.days - 1)
            contracts.store(contracts.SYNTHETIC.model_copy(update={"start_date": first}), local_home())
    from fraud_pipelines.settings import start_date

    start = date.fromisoformat(args.start) if args.start else start_date()
    first, last = _partition_range(start, args.days)
    if last > _yesterday().isoformat():
        print(f"the demo's range {first}..{last} runs past yesterday ({_yesterday()}), the last finished UTC day: "
              f"ask for fewer days (FRAUD_DEMO_DAYS) or an earlier --start", file=sys.stderr)
        return 2
    from fraud_pipelines.training.config import DEMO_OPS

    print(f"Running fraud_pipeline_job for {first}..{last} ({args.days} days) as one run")
    return _run_and_report(first, last, ops=DEMO_OPS)


def run(args: argparse.Namespace) -> int:
    """The whole graph on the user's files, as the contract describes them, in one Dagster run."""
    from fraud_pipelines import contract as contracts
    from fraud_pipelines.raw.files import RawInputError
    from fraud_pipelines.raw.sources import FileSource
    from fraud_pipelines.settings import HomeFormatError, check_home_format, ensure_dagster_home, fraud_home, local_home

    try:
        check_home_format()
        contract = contracts.load(args.contract)
    except HomeFormatError as error:
        print(error, file=sys.stderr)
        return 2
    except contracts.ContractError as error:
        print(error, file=sys.stderr)
        return 2
    if contract.source != "files":
        print(f"{args.contract}: source is '{contract.source}'; `run --contract` takes files (use `demo` for the "
              "synthetic data)", file=sys.stderr)
        return 2
    stored = contracts.contract_path() if not os.environ.get(contracts.CONTRACT_ENV) else None
    if stored is not None and contracts.load(stored).name != contract.name and (local_home() / "raw").exists():
        print(f"{local_home()} already holds the data of contract '{contracts.load(stored).name}'; use another "
              f"FRAUD_HOME for '{contract.name}', or delete {local_home()} to start over", file=sys.stderr)
        return 2
    source = FileSource(contract, f"{fraud_home()}/landing")
    try:
        covered = source.covered_days()
    except RawInputError as error:
        print(error, file=sys.stderr)
        return 2
    finished = [d for d in covered if d <= _yesterday()]
    if not finished:
        print(f"no complete UTC day of transactions in {source.folder('transactions')} (before today): land files, "
              "or check tables.transactions in the contract", file=sys.stderr)
        return 2
    first = date.fromisoformat(args.start) if args.start else (contract.start_date or finished[0])
    last = date.fromisoformat(args.end) if args.end else finished[-1]
    if first > last:
        print(f"--start {first} is after --end {last}", file=sys.stderr)
        return 2
    missing = [d for d in _days(first, last) if d not in set(covered)]
    if missing:
        print(f"{len(missing)} day(s) of {first}..{last} have no complete files, e.g. {missing[:3]}: land them, "
              "list them under tables.transactions.empty_days, or choose --start/--end", file=sys.stderr)
        return 2
    kept = contract.model_copy(update={"start_date": contract.start_date or first})
    path = contracts.store(kept, local_home())
    os.environ[contracts.CONTRACT_ENV] = str(path)
    os.environ.pop("FRAUD_START_DATE", None)
    ensure_dagster_home()
    print(f"Contract '{contract.name}' ({args.contract}), kept as {path}")
    print(f"Running fraud_pipeline_job on the files for {first}..{last} ({(last - first).days + 1} days) as one run")
    outside = source.rows_outside(first, last)
    status = _run_and_report(first.isoformat(), last.isoformat())
    if outside:
        print(f"\nNot ingested: {outside:,} landed charges fall on UTC days outside {first}..{last} (days the files "
              "cover only partly, or outside --start/--end).")
    return status


def _run_and_report(first: str, last: str, ops: dict | None = None) -> int:
    began = time.perf_counter()
    result = run_pipeline(first, last, ops)
    print(f"\nFinished in {time.perf_counter() - began:.0f}s\n")
    evaluation = _evaluation() if result.success else None
    print(summary(evaluation))
    return 0 if result.success else 1


def _evaluation() -> dict:
    """The evaluation the run stored, read back through the asset's IO manager (as a UI run would)."""
    import dagster as dg

    from fraud_pipelines.definitions import defs

    return defs.load_asset_value("model_evaluation", instance=dg.DagsterInstance.get())


def _yesterday() -> date:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).date() - timedelta(days=1)


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def rollback_champion(args: argparse.Namespace) -> int:
    """Move the champion alias back to `--to` with `--reason`, recorded in the registry."""
    from fraud_pipelines.training.registry import ModelRegistry
    from fraud_pipelines.training.rollback import RollbackError, rollback

    try:
        done = rollback(ModelRegistry(), args.to, args.reason)
    except RollbackError as error:
        print(f"rollback refused: {error}", file=sys.stderr)
        return 2
    print(done.describe())
    return 0


def set_challenger(args: argparse.Namespace) -> int:
    """Set (`--version`) or remove (`--clear`) the challenger alias, with `--reason` recorded in the registry."""
    from fraud_pipelines.governance.challenger import ChallengerError, clear_challenger
    from fraud_pipelines.governance.challenger import set_challenger as put_in_shadow
    from fraud_pipelines.training.registry import ModelRegistry

    try:
        done = (clear_challenger(ModelRegistry(), args.reason) if args.clear
                else put_in_shadow(ModelRegistry(), args.version, args.reason))
    except ChallengerError as error:
        print(f"challenger refused: {error}", file=sys.stderr)
        return 2
    print(done.describe())
    return 0


def _card_token(card: str) -> int:
    """The token of a card number given on the command line (the key must exist: data was ingested)."""
    from fraud_pipelines.privacy.tokens import tokenizer

    return tokenizer(create=False).token(card)


def forget_card(args: argparse.Namespace) -> int:
    """Erase one card everywhere under $FRAUD_HOME and print what was removed (idempotent)."""
    from fraud_pipelines.privacy.erasure import ErasureIncomplete, forget

    try:
        token = _card_token(args.card)
    except (ValueError, FileNotFoundError) as error:
        print(f"forget refused: {error}", file=sys.stderr)
        return 2
    try:
        report = forget(token, reason=args.reason, log=lambda line: print(line, file=sys.stderr))
    except ErasureIncomplete as error:
        print(f"erasure incomplete:\n{error}", file=sys.stderr)
        return 1
    print(report.describe())
    return 0


def print_token(args: argparse.Namespace) -> int:
    """Print the token a card number is stored under (e.g. for forget_card_job in the UI)."""
    try:
        print(_card_token(args.card))
    except (ValueError, FileNotFoundError) as error:
        print(f"token refused: {error}", file=sys.stderr)
        return 2
    return 0


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    parser = argparse.ArgumentParser(prog="fraud_pipelines", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_command = commands.add_parser("demo", help="run the main job end to end on the embedded synthetic data")
    demo_command.add_argument("--days", type=int, default=int(os.environ.get("FRAUD_DEMO_DAYS", DEMO_DAYS)))
    demo_command.add_argument("--start", default=None,
                              help="first day, YYYY-MM-DD (default: the days ending yesterday)")
    demo_command.set_defaults(func=demo)
    run_command = commands.add_parser("run", help="run the whole graph on your files, described by a data contract")
    run_command.add_argument("--contract", required=True, help="the data contract (YAML); see the README")
    run_command.add_argument("--start", default=None, help="first UTC day, YYYY-MM-DD (default: the first landed)")
    run_command.add_argument("--end", default=None, help="last UTC day, inclusive (default: the last complete one)")
    run_command.set_defaults(func=run)
    rollback_command = commands.add_parser("rollback", help="move the champion alias back to an earlier version")
    rollback_command.add_argument("--to", required=True, help="the registered version to serve again, e.g. 3")
    rollback_command.add_argument("--reason", required=True, help="why (recorded on the versions in the registry)")
    rollback_command.set_defaults(func=rollback_champion)
    challenger_command = commands.add_parser("challenger", help="put a registered version in shadow beside the "
                                                                "champion (the challenger alias), or take it out")
    which = challenger_command.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", help="the registered version to score in shadow, e.g. 4")
    which.add_argument("--clear", action="store_true", help="remove the challenger alias (the version stays)")
    challenger_command.add_argument("--reason", required=True, help="why (recorded in the registry)")
    challenger_command.set_defaults(func=set_challenger)
    forget_command = commands.add_parser("forget", help="erase one card from every table, store and training dataset")
    forget_command.add_argument("--card", required=True, help="the card number (digits)")
    forget_command.add_argument("--reason", default="erasure request", help="recorded on the training datasets changed")
    forget_command.set_defaults(func=forget_card)
    token_command = commands.add_parser("token", help="print the token a card number is stored under")
    token_command.add_argument("--card", required=True, help="the card number (digits)")
    token_command.set_defaults(func=print_token)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
