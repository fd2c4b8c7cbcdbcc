"""One-row XGBoost predictions, fastest first:

1. `flat_trees.FlatTrees`: every tree walked at once in numpy from the model's JSON (about a
   quarter of XGBoost's one-row cost on the champion's 156 trees);
2. the call `Booster.inplace_predict` makes (`XGBoosterPredictFromDense`, XGBoost's public C API),
   with its arguments prepared once and a preallocated input row per thread;
3. `inplace_predict` itself.

Each is prepared per model at load time and checked there against `inplace_predict` bit for bit
(random rows with missing values, and rows on the split thresholds); the first that passes serves.
Saabas contributions (reason codes) of one row come from the same numpy walk when it reproduces
XGBoost's `approx_contribs` bit for bit on those rows, else from XGBoost.
"""

from __future__ import annotations

import ctypes
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from fraud_pipelines.governance.saabas import SaabasTrees, Unsupported
from fraud_pipelines.serving.flat_trees import FlatTrees

log = logging.getLogger(__name__)
#: Most rows scored by the numpy walk at once (a micro-batch of concurrent requests); more go to XGBoost,
#: whose batch path is faster once its fixed cost per call is shared by many rows.
MAX_WALK_ROWS = 64


class RowPredictor:
    """Raw (uncalibrated) predictions of one booster for one row or many, as `inplace_predict` gives them."""

    def __init__(self, booster: Any, n_features: int, iteration_range: tuple[int, int], missing: float) -> None:
        self.booster = booster
        self.n_features = n_features
        self.iteration_range = iteration_range
        self.missing = missing
        self._local = threading.local()
        self._one: Callable[[list[float]], float] | None = None
        self._flat_trees: FlatTrees | None = None
        self._contributions_one: Callable[[Any], np.ndarray] | None = None
        self._many: Callable[[Any], np.ndarray] | None = None
        self._saabas: SaabasTrees | bool | None = None  # built on first use: False when it does not apply
        self.path = "inplace_predict"
        self.contributions_path = "approx_contribs"
        for name, prepare in (("flat trees", self._flat), ("prepared C call", self._prepare)):
            try:
                one, extra = prepare()
                rows = self._check(one, extra)
            except Exception as error:  # noqa: BLE001 -- any surprise: the next path, which is only slower
                log.warning("one-row predictions: %s not used (%s: %s)", name, type(error).__name__, error)
                continue
            self._one, self.path = one, name
            break
        if self.path == "flat trees" and self._flat_trees is not None:
            try:
                self._check_many(self._flat_trees.predict_many, rows)
                self._many = self._flat_trees.predict_many
            except Exception as error:  # noqa: BLE001 -- XGBoost's batch call stays, only slower for a few rows
                log.warning("few-row predictions: flat trees not used (%s: %s)", type(error).__name__, error)
        if self._one is not None and self._flat_trees is not None:
            try:
                self._check_contributions(self._flat_trees.contributions_one, rows)
                self._contributions_one, self.contributions_path = self._flat_trees.contributions_one, "flat trees"
            except Exception as error:  # noqa: BLE001 -- XGBoost's own call stays, only slower
                log.warning("one-row contributions: flat trees not used (%s: %s)", type(error).__name__, error)

    def predict_row(self, row: list[float]) -> float:
        """The raw prediction of one row (a float32 value as a Python float), without an array around it."""
        if self._one is not None:
            return float(self._one(row))
        return float(self._library(np.array([row], dtype=np.float64))[0])

    def predict(self, rows: list[list[float]]) -> np.ndarray:
        """float32 raw predictions, one per row."""
        if len(rows) == 1 and self._one is not None:
            return np.array([self._one(rows[0])], dtype=np.float32)
        if len(rows) <= MAX_WALK_ROWS and self._many is not None:
            return self._many(rows)
        return self._library(np.array(rows, dtype=np.float64))

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Saabas contributions (XGBoost's `approx_contribs`), float32 (rows, features + 1), bias last."""
        if len(matrix) == 1 and self._contributions_one is not None:
            return self._contributions_one(matrix[0])[None, :]
        return self._library_contributions(matrix)

    def _library_contributions(self, matrix: np.ndarray) -> np.ndarray:
        """Several rows (/predict/batch): one XGBoost prediction on the Saabas table's trees (bit for bit
        `approx_contribs`, checked when the table is built), else `approx_contribs` itself."""
        from xgboost import DMatrix

        if self._saabas is None:
            try:
                self._saabas = SaabasTrees(self.booster, self.n_features, self.iteration_range, self.missing)
            except Unsupported:
                self._saabas = False
        if self._saabas:
            return self._saabas.contributions(np.asarray(matrix, dtype=np.float64))
        data = DMatrix(matrix, missing=self.missing, nthread=1 if len(matrix) < 1_000 else None)
        return self.booster.predict(data, pred_contribs=True, approx_contribs=True,
                                    iteration_range=self.iteration_range, validate_features=False)

    def _library(self, matrix: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(matrix, iteration_range=self.iteration_range, predict_type="value",
                                            missing=self.missing, validate_features=False)

    def _flat(self) -> tuple[Callable[[list[float]], float], np.ndarray]:
        trees = self._flat_trees = FlatTrees(self.booster, self.n_features, self.iteration_range, self.missing)
        rng = np.random.default_rng(1)
        on_thresholds = np.full((64, self.n_features), np.nan)
        for feature, values in trees.thresholds.items():
            if len(values):
                on_thresholds[:, feature] = rng.choice(values, size=64)
        return trees.predict_one, on_thresholds

    def _prepare(self) -> tuple[Callable[[list[float]], float], np.ndarray]:
        from xgboost.core import _LIB, _check_call, c_bst_ulong

        args = json.dumps({"type": 0, "training": False, "iteration_begin": int(self.iteration_range[0]),
                           "iteration_end": int(self.iteration_range[1]), "missing": float(self.missing),
                           "strict_shape": False, "cache_id": 0}).encode()
        predict, handle = _LIB.XGBoosterPredictFromDense, self.booster.handle
        local, width = self._local, self.n_features

        def buffers() -> tuple[np.ndarray, bytes]:
            row = np.zeros((1, width), dtype=np.float64)  # this thread's input row; its address never changes
            interface = json.dumps({"data": (row.ctypes.data, False), "shape": [1, width], "strides": None,
                                    "typestr": "<f8", "version": 3}).encode()
            local.row, local.interface = row, interface
            return row, interface

        def one(values: list[float]) -> float:
            row = getattr(local, "row", None)
            row, interface = (row, local.interface) if row is not None else buffers()
            row[0] = values
            predictions, shape, dims = ctypes.POINTER(ctypes.c_float)(), ctypes.POINTER(c_bst_ulong)(), c_bst_ulong()
            _check_call(predict(handle, interface, args, None, ctypes.byref(shape), ctypes.byref(dims),
                                ctypes.byref(predictions)))
            return predictions[0]
        return one, np.zeros((0, self.n_features))

    def _check(self, one: Callable[[list[float]], float], extra: np.ndarray) -> np.ndarray:
        """`one` must give `inplace_predict`'s float32 bits on varied rows, NaN included, and `extra`;
        returns the rows checked."""
        rng = np.random.default_rng(0)
        rows = rng.normal(0.0, 100.0, size=(256, self.n_features))
        rows[rng.random(rows.shape) < 0.2] = np.nan
        rows = np.concatenate([rows, extra])
        expected = self._library(rows)
        got = np.array([one(row.tolist()) for row in rows], dtype=np.float32)
        if not np.array_equal(got.view(np.int32), np.asarray(expected, dtype=np.float32).view(np.int32)):
            raise ValueError(f"disagrees with inplace_predict on {int(np.sum(got != expected))} of {len(rows)} rows")
        return rows

    def _check_many(self, many: Callable[[Any], np.ndarray], rows: np.ndarray) -> None:
        """`many` must give `inplace_predict`'s float32 bits on `rows`, in micro-batches of every size
        up to MAX_WALK_ROWS."""
        expected = np.asarray(self._library(rows), dtype=np.float32)
        got, start, size = [], 0, 2
        while start < len(rows):
            got.append(many(rows[start:start + size]))
            start, size = start + size, size % MAX_WALK_ROWS + 1
        got = np.concatenate(got).astype(np.float32)
        if not np.array_equal(got.view(np.int32), expected.view(np.int32)):
            raise ValueError(f"disagrees with inplace_predict on {int(np.sum(got != expected))} of {len(rows)} rows")

    def _check_contributions(self, one: Callable[[Any], np.ndarray], rows: np.ndarray) -> None:
        """`one` must give `approx_contribs`' float32 bits on `rows`."""
        expected = np.asarray(self._library_contributions(rows), dtype=np.float32)
        got = np.array([one(row) for row in rows], dtype=np.float32)
        if got.shape != expected.shape or not np.array_equal(got.view(np.int32), expected.view(np.int32)):
            wrong = int(np.any(got != expected, axis=1).sum()) if got.shape == expected.shape else len(rows)
            raise ValueError(f"disagrees with approx_contribs on {wrong} of {len(rows)} rows")
