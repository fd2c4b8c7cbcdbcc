"""A feature view: metadata only -- a query (spine + point-in-time joins), label columns and
transformation functions. It yields training data (versioned, reproducible), batch data for
scoring, and online feature vectors, all transformed the same way.

Column rules for X: labels never; entity ids (every group's primary key and the spine's join
keys) only with `primary_key=True`; event times only with `event_time=True`. Transformed
features keep their position (a one-hot feature becomes several adjacent columns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from deltalake.exceptions import TableNotFoundError

from .context import StoreContext
from .errors import InvalidInputError, NotFoundError
from .frozen_splits import new_draft_id, read_split, remove_folder, split_uri, stale_drafts, view_folder, write_split
from .history import drop_history
from .offline_store import Snapshot, TimeRange
from .query import Query
from .serving import ReturnType, VectorServer
from .specs import FeatureViewSpec
from .sql import as_utc
from .training_dataset import TrainingDatasetStore, TrainingDatasetVersion, split_ranges
from .transformations import from_state, to_state
from .view_plan import JoinedRows, ViewPlan, split_xy, to_frame

XY = tuple[pd.DataFrame, "pd.Series | pd.DataFrame | None"]


class FeatureView:
    """Handle on one feature view version (create it with FeatureStore.get_or_create_feature_view)."""

    def __init__(self, *, spec: FeatureViewSpec, query: Query, context: StoreContext) -> None:
        self.spec = spec
        self.query = query
        self._context = context
        self._plan = ViewPlan(query, spec.labels)
        self._datasets = TrainingDatasetStore(context.catalog, spec.name, spec.version)
        self._batch_functions: dict[str, Any] | None = None
        self._server: VectorServer | None = None
        #: The training dataset version recorded by the latest training_data()/create_* call here.
        self.last_training_dataset_version: int | None = None

    def __repr__(self) -> str:
        return f"FeatureView({self.name!r}, version={self.version}, labels={list(self.labels)})"

    name = property(lambda self: self.spec.name, doc="The view's name.")
    version = property(lambda self: self.spec.version, doc="The view's version.")
    labels = property(lambda self: self.spec.labels, doc="Label columns (y).")

    @property
    def _engine(self) -> Any:
        return self._context.join_engine

    @property
    def _where(self) -> str:
        return f"feature view {self.name} v{self.version}"

    def feature_names(self, *, primary_key: bool = False, event_time: bool = False) -> list[str]:
        """Columns of X before transformations."""
        return [c.name for c in self._plan.kept(primary_key=primary_key, event_time=event_time)]

    # --- training data -------------------------------------------------------------------

    def training_data(
        self, start_time: Any = None, end_time: Any = None, *, primary_key: bool = False,
        event_time: bool = False, description: str = "", materialize: bool = True,
    ) -> XY:
        """All spine rows with start_time <= event time < end_time as (X, y), transformations fitted
        on them; recorded as a training dataset version (see `training_dataset_versions`), its rows
        stored with it unless `materialize=False` (see `create_training_data`)."""
        splits = split_ranges(train_start=start_time, train_end=end_time)
        snapshots = self._snapshots()
        frozen: dict[str, str] = {}
        try:
            rows = self._plan.join(self._context.connect(), snapshots, splits["train"], engine=self._engine)
            if materialize:
                self._freeze(new_draft_id(), "train", rows, frozen)
            audit, frame = rows.audit, rows.to_pandas()
            functions = self._fit(frame)
            self._record(splits, snapshots, functions, {"train": len(frame)}, {"train": audit}, description, frozen)
        except BaseException:
            self._discard(frozen)
            raise
        return split_xy(frame, self._plan, functions, primary_key=primary_key, event_time=event_time)

    def create_training_data(self, start_time: Any = None, end_time: Any = None, *, description: str = "",
                             materialize: bool = True) -> int:
        """Record a single-split training dataset version; returns its number.

        With `materialize` (the default) each split's joined rows are stored once, as a Delta table of
        their own under the store's root, and every read of the version reads them back; with
        `materialize=False` the version stores no rows and each read re-runs the join on the Delta
        versions it pinned (no copy on disk, a join per read). Both read the same rows in the same order.
        """
        return self._create(split_ranges(train_start=start_time, train_end=end_time), description, materialize)

    def create_train_test_split(
        self, train_start: Any = None, train_end: Any = None, test_start: Any = None, test_end: Any = None,
        *, description: str = "", materialize: bool = True,
    ) -> int:
        """Record a time-based train/test split (ranges on the spine's event time); returns its version.
        `materialize`: as in `create_training_data`."""
        return self._create(split_ranges(train_start=train_start, train_end=train_end, test_start=test_start,
                                         test_end=test_end), description, materialize)

    def create_train_validation_test_split(
        self, train_start: Any = None, train_end: Any = None, validation_start: Any = None,
        validation_end: Any = None, test_start: Any = None, test_end: Any = None, *, description: str = "",
        materialize: bool = True,
    ) -> int:
        """Record a time-based train/validation/test split; returns its version. `materialize`: as in
        `create_training_data`."""
        return self._create(split_ranges(
            train_start=train_start, train_end=train_end, validation_start=validation_start,
            validation_end=validation_end, test_start=test_start, test_end=test_end), description, materialize)

    def get_training_data(self, training_dataset_version: int, *, primary_key: bool = False,
                          event_time: bool = False) -> XY:
        """(X, y) of a single-split version, identical every time it is read."""
        return self._get(training_dataset_version, ("train",), primary_key, event_time)[0]

    def get_train_test_split(self, training_dataset_version: int, *, primary_key: bool = False,
                             event_time: bool = False) -> tuple[Any, Any, Any, Any]:
        """X_train, X_test, y_train, y_test of a recorded version."""
        (x_train, y_train), (x_test, y_test) = self._get(training_dataset_version, ("train", "test"),
                                                         primary_key, event_time)
        return x_train, x_test, y_train, y_test

    def get_train_validation_test_split(self, training_dataset_version: int, *, primary_key: bool = False,
                                        event_time: bool = False) -> tuple[Any, Any, Any, Any, Any, Any]:
        """X_train, X_val, X_test, y_train, y_val, y_test of a recorded version."""
        (xt, yt), (xv, yv), (xs, ys) = self._get(training_dataset_version, ("train", "validation", "test"),
                                                 primary_key, event_time)
        return xt, xv, xs, yt, yv, ys

    def get_training_dataset(self, training_dataset_version: int) -> TrainingDatasetVersion:
        """The metadata of a version (splits, Delta versions, fitted state, audit, row counts)."""
        return self._datasets.get(training_dataset_version)

    def training_dataset_versions(self) -> list[int]:
        """Recorded training dataset versions, ascending."""
        return self._datasets.versions()

    def _create(self, splits: dict[str, TimeRange], description: str, materialize: bool) -> int:
        """Join each split (one in memory at a time), store its rows when `materialize`, fit on train, and
        record the version last: write, check, publish. On any failure the splits written are removed."""
        if "train" not in splits:
            raise InvalidInputError(f"{self._where}: a split needs a train range")
        snapshots = self._snapshots()
        counts, audits, functions, frozen = {}, {}, {}, {}
        draft = new_draft_id()
        try:
            for name, window in splits.items():
                rows = self._plan.join(self._context.connect(), snapshots, window, engine=self._engine)
                counts[name], audits[name] = rows.num_rows, rows.audit
                if materialize:
                    self._freeze(draft, name, rows, frozen)
                if name == "train":  # in order: fitted state must not depend on the engine's row order
                    functions = self._fit(rows.to_pandas(self._fit_columns(rows.table.column_names)))
                del rows
            return self._record(splits, snapshots, functions, counts, audits, description, frozen).version
        except BaseException:
            self._discard(frozen)
            raise

    def _freeze(self, draft: str, name: str, rows: JoinedRows, frozen: dict[str, str]) -> None:
        """Store a split's joined rows in order under the draft's folder; `frozen` notes it before the
        write, so a failed write is removed too."""
        frozen[name] = split_uri(self._context.root, self.name, self.version, draft, name)
        write_split(frozen[name], rows.table, self._context.storage_options, order=rows.order)

    def remove_stale_drafts(self, older_than_seconds: float = 24 * 3600.0) -> list[str]:
        """Delete the stored rows of versions that were never recorded (a creation killed between writing
        its splits and recording them: nothing reads them) once their newest file is older than
        `older_than_seconds`, so a creation still under way keeps its draft. Returns the folders removed."""
        recorded = {uri.rsplit("/", 1)[0] for version in self._datasets.versions()
                    for uri in self._datasets.get(version).frozen.values()}
        folder = view_folder(self._context.root, self.name, self.version)
        stale = stale_drafts(folder, recorded, older_than_seconds, self._context.storage_options)
        for draft in stale:
            remove_folder(draft, self._context.storage_options)
        return stale

    def _discard(self, frozen: Mapping[str, str]) -> None:
        """Remove the draft folder of a version that will not be recorded (best effort: it is never read)."""
        for folder in {uri.rsplit("/", 1)[0] for uri in frozen.values()}:
            try:
                remove_folder(folder, self._context.storage_options)
            except OSError:
                pass

    def _get(self, version: int, names: Sequence[str], primary_key: bool, event_time: bool) -> list[XY]:
        record = self._datasets.get(version)
        missing = [n for n in names if n not in record.splits]
        if missing:
            raise InvalidInputError(
                f"{self._where}: training dataset version {version} has splits {list(record.splits)}, not {missing}"
            )
        functions = self._restore(record)
        out = []
        for name in names:
            out.append(split_xy(self._split_frame(record, name), self._plan, functions,
                                primary_key=primary_key, event_time=event_time))
        return out

    def _split_frame(self, record: TrainingDatasetVersion, name: str) -> pd.DataFrame:
        """`_split_rows` as pandas, ordered after the conversion when the join runs."""
        if name in record.frozen:
            return to_frame(self._read_frozen(record, name))
        return self._plan.join(self._context.connect(), self._snapshots(record.delta_versions),
                               record.splits[name], engine=self._engine).to_pandas()

    def _split_rows(self, record: TrainingDatasetVersion, name: str, *, checked: bool = True) -> Any:
        """A recorded split's joined rows: its frozen copy, or the join on the pinned Delta versions.
        Unless `checked`, a frozen copy is read whatever its row count (an erasure rewriting it again)."""
        if name in record.frozen:
            if not checked:
                return read_split(record.frozen[name], self._context.storage_options)
            return self._read_frozen(record, name)
        table, _ = self._plan.read(self._context.connect(), self._snapshots(record.delta_versions),
                                   record.splits[name], engine=self._engine)
        return table

    def _read_frozen(self, record: TrainingDatasetVersion, name: str) -> Any:
        """The version's stored rows of split `name`, checked against its recorded row count; a copy that
        is gone is a NotFoundError naming the version, the split and where it was."""
        uri = record.frozen[name]
        try:
            return read_split(uri, self._context.storage_options, expected_rows=record.row_counts.get(name))
        except TableNotFoundError:
            raise NotFoundError(
                f"{self._where}: training dataset version {record.version}'s stored {name} rows are missing at "
                f"{uri} (removed outside the feature store?); its data cannot be read: create a new training "
                "dataset version") from None

    def erase_from_training_data(self, column: str, values: Sequence[Any], *, reason: str) -> dict[int, dict[str, int]]:
        """Freeze every recorded version's splits without the rows whose `column` is in `values`, before
        an erasure drops the Delta versions they pinned. A version keeps its number, splits and fitted
        state; its record lists the frozen copies and this erasure. Returns {version: {split: rows removed}}."""
        import pyarrow as pa
        import pyarrow.compute as pc

        from .training_dataset import utc_now_text

        removed_by_version = {}
        for version in self._datasets.versions():
            record = self._datasets.get(version)
            frozen, counts, removed = dict(record.frozen), dict(record.row_counts), {}
            for name in record.splits:
                table = self._split_rows(record, name, checked=False)  # a stopped erasure may have rewritten it
                if column not in table.column_names:
                    raise InvalidInputError(f"{self._where}: its training data has no column '{column}' to erase by")
                keep = pc.invert(pc.is_in(table[column], value_set=pa.array(list(values), type=table[column].type)))
                kept = table.filter(keep)
                removed[name] = table.num_rows - kept.num_rows
                if name in frozen and removed[name] == 0:
                    continue
                uri = frozen.get(name) or split_uri(self._context.root, self.name, self.version, version, name)
                write_split(uri, kept, self._context.storage_options, mode="overwrite")
                if name in frozen:
                    drop_history(uri, self._context.storage_options)
                frozen[name], counts[name] = uri, kept.num_rows
            erasures = list(record.erasures)
            if any(removed.values()):
                erasures.append({"at": utc_now_text(), "reason": reason, "rows_removed": removed})
            if frozen != record.frozen or erasures != record.erasures:
                self._datasets.replace(replace(record, frozen=frozen, row_counts=counts, erasures=erasures))
            removed_by_version[version] = removed
        return removed_by_version

    # --- batch scoring and serving ------------------------------------------------------

    def init_batch_scoring(self, training_dataset_version: int | None = None) -> None:
        """Use the transformation state fitted for `training_dataset_version` in get_batch_data."""
        self._batch_functions = self._functions_for(training_dataset_version)

    def get_batch_data(
        self, start_time: Any = None, end_time: Any = None, *, spine: Any = None, primary_key: bool = False,
        event_time: bool = False,
    ) -> pd.DataFrame:
        """Transformed features (no labels) for spine rows with start_time <= event time < end_time.

        `spine` (a DataFrame with the spine's event time, join keys and spine features) replaces the
        spine group, e.g. to score transactions that have no label yet; its rows keep their order
        within an event time.
        """
        if self._batch_functions is None:
            if self.spec.transformations:
                raise InvalidInputError(f"{self._where}: call init_batch_scoring(training_dataset_version) first")
            self._batch_functions = {}
        window = TimeRange(start=None if start_time is None else as_utc(start_time, "start_time"),
                           end=None if end_time is None else as_utc(end_time, "end_time"))
        frame_spine = None if spine is None else self._plan.spine_frame(spine)
        rows = self._plan.join(self._context.connect(), self._snapshots(), window, spine_frame=frame_spine,
                               with_labels=False, engine=self._engine)
        x, _ = split_xy(rows.to_pandas(), self._plan, self._batch_functions, primary_key=primary_key,
                        event_time=event_time, labels=False)
        return x

    def init_serving(self, training_dataset_version: int | None = None) -> None:
        """Prepare online lookups and the transformation state of `training_dataset_version`."""
        functions = self._functions_for(training_dataset_version)
        self._server = VectorServer(self._plan, self.query.groups(), self._context.online_store(), functions)

    def get_feature_vector(
        self, entry: Mapping[str, Any], *, passed_features: Mapping[str, Any] | None = None,
        return_type: ReturnType = "list",
    ) -> Any:
        """One transformed feature vector: online rows for the entry's keys, plus passed features."""
        return self._serving().vector(entry, passed_features, return_type)

    def get_feature_vectors(
        self, entries: Sequence[Mapping[str, Any]], *, passed_features: Sequence[Mapping[str, Any]] | None = None,
        return_type: ReturnType = "list",
    ) -> Any:
        """Feature vectors for many entries (one batched read per group)."""
        return self._serving().vectors(entries, passed_features, return_type)

    def serving_columns(self) -> list[str]:
        """Names of the values in a feature vector (the training X columns)."""
        return list(self._serving().columns)

    def _serving(self) -> VectorServer:
        if self._server is None:
            raise InvalidInputError(f"{self._where}: call init_serving(training_dataset_version) first")
        return self._server

    # --- helpers ---------------------------------------------------------------------------

    def _snapshots(self, versions: Mapping[str, int] | None = None) -> list[Snapshot]:
        groups = self.query.groups()
        names = self._plan.table_names()
        return [g.snapshot(None if versions is None else versions[n]) for g, n in zip(groups, names)]

    def _fit_columns(self, available: Sequence[str]) -> list[str]:
        return [f for f in self.spec.transformations if f in available]

    def _fit(self, frame: pd.DataFrame) -> dict[str, Any]:
        functions = {}
        for feature, doc in self.spec.transformations.items():
            function = from_state({"function": doc["function"], "params": doc.get("params", {})},
                                  self._context.transformations)
            functions[feature] = function.fit(frame[feature])
        return functions

    def _restore(self, record: TrainingDatasetVersion) -> dict[str, Any]:
        return {f: from_state(doc, self._context.transformations) for f, doc in record.transformations.items()}

    def _functions_for(self, version: int | None) -> dict[str, Any]:
        if version is None:
            if self.spec.transformations:
                raise InvalidInputError(
                    f"{self._where} has transformation functions; give the training dataset version whose fitted "
                    f"state to use (recorded: {self.training_dataset_versions()})"
                )
            return {}
        return self._restore(self._datasets.get(version))

    def _record(self, splits: dict[str, TimeRange], snapshots: Sequence[Snapshot], functions: Mapping[str, Any],
                counts: dict[str, int], audits: dict[str, dict[str, float | None]], description: str,
                frozen: Mapping[str, str]) -> TrainingDatasetVersion:
        draft = TrainingDatasetVersion(
            feature_view=self.name, feature_view_version=self.version, version=0, splits=splits,
            delta_versions={n: s.version for n, s in zip(self._plan.table_names(), snapshots)},
            transformations={f: to_state(fn, self.spec.transformations[f]["function"]) for f, fn in functions.items()},
            row_counts=counts, leakage_audit=audits, description=description, frozen=dict(frozen),
        )
        record = self._datasets.save(draft)
        self.last_training_dataset_version = record.version
        return record
