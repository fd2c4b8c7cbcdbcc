"""A month of automation in one process: the daily schedule's ticks, the retraining sensors
evaluated after each day, and every run they ask for, executed in-process as the daemon would
launch them, on small synthetic data with a distribution shift injected mid-month.

A test and bench harness, kept out of the package: used by `simulate_month.py` and the
automation tests. The schedule, sensors and jobs are those of `definitions.py`; only the raw
source (smaller, optionally shifted) and the instance differ.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import dagster as dg
from pydantic import Field

from feature_logic.schema import MAX_AMOUNT
from fraud_pipelines.automation.jobs import RANGE_END_TAG, RANGE_START_TAG, REASON_TAG
from fraud_pipelines.automation.schedules import CRON
from fraud_pipelines.resources import RawSourceResource

RETRAIN_SENSORS = ("drift_sensor", "decay_sensor", "new_labels_sensor")
_TICK_TIME = time(int(CRON.split()[1]), int(CRON.split()[0]), tzinfo=timezone.utc)


class ShiftedSource:
    """A raw source whose transaction amounts are multiplied by `factor` from day `start` on;
    deterministic (no new randomness), labels and histories untouched."""

    def __init__(self, base: Any, start: date, factor: float) -> None:
        self.base, self.start, self.factor = base, start, factor

    def day_parts(self, table: str, day: date) -> list:
        parts = self.base.day_parts(table, day)
        if table != "transactions" or day < self.start:
            return parts
        return [replace(p, frame=p.frame.assign(amount=(p.frame["amount"] * self.factor).round(2)
                                                 .clip(upper=MAX_AMOUNT))) for p in parts]

    def history(self, table: str) -> list:
        return self.base.history(table)

    def preflight(self, table: str, days: list[date]) -> None:
        self.base.preflight(table, days)

    def describe(self) -> str:
        return f"{self.base.describe()}, amounts x{self.factor} from {self.start}"


class ShiftedRawSource(RawSourceResource):
    """The synthetic raw source with an optional distribution shift (for drift drills)."""

    shift_from: str = Field(default="", description="ISO day from which amounts are multiplied; empty: no shift.")
    amount_factor: float = Field(default=1.0, gt=0, description="Multiplier of every amount from shift_from on.")

    def source(self):
        """The configured source, wrapped in a ShiftedSource when a shift is set."""
        base = super().source()
        if not self.shift_from or self.amount_factor == 1.0:
            return base
        return ShiftedSource(base, date.fromisoformat(self.shift_from), self.amount_factor)


def definitions(raw_source: RawSourceResource, **resources: Any) -> dg.Definitions:
    """The project's definitions with another raw source (and any other resource) swapped in."""
    from fraud_pipelines.definitions import defs

    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                          schedules=defs.schedules, sensors=defs.sensors,
                          resources={**defs.resources, "raw_source": raw_source, **resources})


def launch(defs: dg.Definitions, instance: dg.DagsterInstance, request: dg.RunRequest, job_name: str,
           run_config: dict[str, Any] | None = None, *, log_level: str | None = None) -> dg.ExecuteInProcessResult:
    """Execute a run request in-process, with its partition (or range), tags, config and selection."""
    job = defs.resolve_job_def(request.job_name or job_name)
    config = dict(request.run_config or run_config or {})
    if log_level:
        config["loggers"] = {"console": {"config": {"log_level": log_level}}}
    return job.execute_in_process(
        instance=instance, partition_key=request.partition_key, tags=dict(request.tags),
        run_config=config or None, asset_selection=request.asset_selection, raise_on_error=False,
    )


def backfill(defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, first: date, last: date,
             run_config: dict[str, Any] | None = None, *, log_level: str | None = None) -> dg.ExecuteInProcessResult:
    """A partitioned job over first..last as one run (what a UI/CLI backfill does with single-run policies)."""
    request = dg.RunRequest(tags={RANGE_START_TAG: first.isoformat(), RANGE_END_TAG: last.isoformat()})
    return launch(defs, instance, request, job_name, run_config, log_level=log_level)


def tick(defs: dg.Definitions, instance: dg.DagsterInstance, day: date) -> Any:
    """Evaluate the daily schedule at the tick that follows `day` (00:30 UTC the day after)."""
    schedule = defs.resolve_schedule_def("daily_schedule")
    moment = datetime.combine(day + timedelta(days=1), _TICK_TIME)
    # Entered and closed: its resources are built inside an instance context that must not outlive it.
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=moment,
                                   repository_def=defs.get_repository_def(),
                                   resources={"storage": defs.resources["storage"]}) as context:
        return schedule.evaluate_tick(context)


def evaluate(defs: dg.Definitions, instance: dg.DagsterInstance, sensor_name: str, cursor: str | None) -> Any:
    """One evaluation of a sensor, with the definitions' resources, as the daemon does it."""
    sensor = defs.resolve_sensor_def(sensor_name)
    context = dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs, resources=defs.resources)
    return sensor.evaluate_tick(context)


@dataclass
class Trigger:
    """A retraining request and what its run did."""

    sensor: str
    reason: str
    succeeded: bool
    registered: str | None = None
    promoted: bool = False
    decision: str = ""


@dataclass
class DayRecord:
    """One simulated day: its daily run, the drift measured, the champion, any retraining."""

    day: date
    shifted: bool
    succeeded: bool
    max_psi: float | None
    max_psi_feature: str | None
    champion_before: str | None
    champion_after: str | None
    triggers: list[Trigger] = field(default_factory=list)
    skips: dict[str, str] = field(default_factory=dict)


class MonthSimulation:
    """Drives days one by one: tick → daily run → retraining sensors → retraining runs."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, *, shift_from: date | None = None,
                 sensors: Sequence[str] = RETRAIN_SENSORS, log_level: str | None = "WARNING") -> None:
        self.defs, self.instance, self.shift_from, self.sensors = defs, instance, shift_from, tuple(sensors)
        self.log_level = log_level
        self.cursors: dict[str, str | None] = {name: None for name in self.sensors}

    def bootstrap(self, first: date, last: date, run_config: dict[str, Any] | None = None) -> dg.ExecuteInProcessResult:
        """History and the first champion: the whole pipeline over first..last in one run."""
        result = backfill(self.defs, self.instance, "fraud_pipeline_job", first, last, run_config,
                          log_level=self.log_level)
        if not result.success:
            raise RuntimeError(f"the bootstrap run {result.run_id} failed; see its events")
        return result

    def champion(self) -> str | None:
        """The champion's version now."""
        return self.defs.resources["mlflow"].champion_version()

    def run_day(self, day: date) -> DayRecord:
        """The tick for `day`, its run, then each retraining sensor and the runs it asks for."""
        before = self.champion()
        tick_data = tick(self.defs, self.instance, day)
        succeeded = all(
            launch(self.defs, self.instance, r, "daily_job", log_level=self.log_level).success
            for r in tick_data.run_requests
        )
        drift = _latest_drift(self.instance)
        record = DayRecord(
            day,
            bool(self.shift_from and day >= self.shift_from),
            succeeded and bool(tick_data.run_requests),
            drift.get("max_psi"),
            drift.get("max_psi_feature"),
            before,
            None,
        )
        for name in self.sensors:
            data = evaluate(self.defs, self.instance, name, self.cursors[name])
            self.cursors[name] = data.cursor
            if not data.run_requests:
                record.skips[name] = data.skip_message or ""
            for request in data.run_requests:
                record.triggers.append(self._retrain(name, request))
        record.champion_after = self.champion()
        return record

    def _retrain(self, sensor: str, request: dg.RunRequest) -> Trigger:
        result = launch(self.defs, self.instance, request, "retrain_job", log_level=self.log_level)
        trigger = Trigger(sensor, request.tags[REASON_TAG], result.success)
        if result.success:
            registered = result.output_for_node("registered_model")
            evaluation = result.output_for_node("model_evaluation")
            trigger.registered, trigger.promoted = registered["version"], bool(registered["promoted"])
            trigger.decision = evaluation["promotion_reason"]
        else:
            from fraud_pipelines.automation.run_sensors import failure_reason

            trigger.decision = failure_reason(self.instance, result.run_id) or "run failed"
        return trigger


def _latest_drift(instance: dg.DagsterInstance) -> dict[str, Any]:
    from fraud_pipelines.automation.signals import DRIFT_ASSET

    event = instance.get_latest_materialization_event(DRIFT_ASSET)
    if event is None or event.asset_materialization is None:
        return {}
    metadata = event.asset_materialization.metadata
    return {k: metadata[k].value for k in ("max_psi", "max_psi_feature") if k in metadata}


def format_day(record: DayRecord, echo: Callable[[str], None] = print) -> None:
    """Print one day: run outcome, largest PSI, champion, and each retraining with its reason."""
    psi = f"max PSI {record.max_psi:.3f} ({record.max_psi_feature})" if record.max_psi is not None else "no drift yet"
    mark = " shifted" if record.shifted else ""
    echo(f"{record.day}{mark:>8}  daily run {'ok' if record.succeeded else 'FAILED'}  {psi:<38} "
         f"champion v{record.champion_after}")
    for t in record.triggers:
        outcome = (f"registered v{t.registered}, {'PROMOTED' if t.promoted else 'not promoted'}"
                   if t.succeeded else "retraining run FAILED")
        echo(f"    retraining triggered by {t.sensor}: {t.reason}")
        echo(f"      -> {outcome}: {t.decision}")
