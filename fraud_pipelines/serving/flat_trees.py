"""One-row predictions of an XGBoost `binary:logistic` booster in numpy, from its own JSON model:
every tree walked at once, level by level, over flat arrays, with XGBoost's float32 arithmetic
(features and thresholds as float32, the margin summed tree after tree in float32, the C
library's `expf` in the sigmoid).

Why: XGBoost's one-row call costs a fixed ~70 us plus 1-3 us per tree (156 trees here: 0.4 ms
alone, ~1 ms between other work in a busy server), while its batch path walks a tree in
nanoseconds. This walk costs about a quarter of that; XGBoost's one-row `approx_contribs` costs a
fixed ~0.5 ms more (a DMatrix and the node means recomputed per call), this walk and a sum of the
leaves' rows of the Saabas table (`governance.saabas`) ~0.05 ms. It is only
an accelerator: `RowPredictor` checks both against XGBoost bit for bit at load time and uses the
library when they disagree or the model has what the walk does not handle (categorical splits,
several outputs).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import math
from typing import Any

import numpy as np

from fraud_pipelines.governance.saabas import base_margin, node_means, path_contributions

_ONE = np.float32(1.0)
_EPS = np.float32(1e-16)  # XGBoost's Sigmoid adds it to the denominator (a no-op in float32 above 1)
_MAX_EXPONENT = 88.7  # XGBoost's Sigmoid clips -margin here


class Unsupported(ValueError):
    """The booster has something this walk does not reproduce; use the library."""


class FlatTrees:
    """The trees of `iteration_range` as flat arrays (node -> feature, threshold or leaf value,
    children; a leaf is its own child, so walking past it stays there)."""

    def __init__(self, booster: Any, n_features: int, iteration_range: tuple[int, int], missing: float) -> None:
        if not math.isnan(missing):
            raise Unsupported(f"missing={missing} (only NaN is handled)")
        whole = json.loads(booster.save_raw("json"))
        model = whole["learner"]
        if model["objective"]["name"] != "binary:logistic":
            raise Unsupported(f"objective {model['objective']['name']}")
        parameters = model["learner_model_param"]
        if int(parameters.get("num_class", 0)) > 1 or int(parameters.get("num_target", 1)) != 1:
            raise Unsupported("several outputs")
        booster_model = model["gradient_booster"]["model"]
        trees = booster_model["trees"]
        if any(int(info) != 0 for info in booster_model["tree_info"]):
            raise Unsupported("trees of several groups")
        if int(booster_model["gbtree_model_param"].get("num_parallel_tree", 1)) != 1:
            raise Unsupported("parallel trees")
        begin, end = iteration_range
        trees = trees[begin:end if end > 0 else len(trees)]
        if not trees or any(any(tree["split_type"]) for tree in trees):
            raise Unsupported("no trees" if not trees else "categorical splits")
        lefts, rights, features, values, defaults, roots, means, paths = [], [], [], [], [], [], [], []
        offset, depth = 0, 0
        # XGBoost starts the margin at the base score's margin (0 for a base score of 0.5): a first
        # "tree" that is one leaf of that value, so the walk adds it first, as XGBoost does. It adds
        # nothing to the contributions, whose bias gets the base margin last (`contributions_one`).
        self.base_margin = base_margin(whole)
        if self.base_margin != 0:
            lefts.append(np.zeros(1, dtype=np.intp))
            rights.append(np.zeros(1, dtype=np.intp))
            features.append(np.zeros(1, dtype=np.intp))
            values.append(np.array([self.base_margin], dtype=np.float32))
            defaults.append(np.zeros(1, dtype=bool))
            roots.append(0)
            means.append(np.array([self.base_margin], dtype=np.float32))
            paths.append(np.zeros((1, n_features + 1), dtype=np.float32))
            offset = 1
        for tree in trees:
            left, right = np.asarray(tree["left_children"]), np.asarray(tree["right_children"])
            nodes = np.arange(len(left))
            leaf = left == -1
            lefts.append(np.where(leaf, nodes, left) + offset)
            rights.append(np.where(leaf, nodes, right) + offset)
            features.append(np.where(leaf, 0, np.asarray(tree["split_indices"])))
            values.append(np.asarray(tree["split_conditions"], dtype=np.float32))
            defaults.append(np.asarray(tree["default_left"], dtype=bool))
            roots.append(offset)
            means.append(node_means(tree))
            paths.append(path_contributions(tree, n_features))
            depth = max(depth, _depth(tree["left_children"], tree["right_children"]))
            offset += len(left)
        self.left, self.right = np.concatenate(lefts).astype(np.intp), np.concatenate(rights).astype(np.intp)
        self.feature = np.concatenate(features).astype(np.intp)
        if self.feature.max() >= n_features:
            raise Unsupported("a split on a feature beyond the input row")
        self.value = np.concatenate(values)
        self.default_left = np.concatenate(defaults)
        self.roots = np.asarray(roots, dtype=np.intp)
        self.mean = np.concatenate(means)
        self.paths = np.concatenate(paths)  # per node: Saabas' contributions of the path ending there
        self.n_features = n_features
        self.depth = depth
        self.thresholds = {f: np.unique(self.value[(self.feature == f) & (self.left != np.arange(len(self.left)))])
                           for f in range(n_features)}
        # The walk's own layout, by doubled node index (2 * node): a node's two children side by side
        # (right, then left: + 1 when the row goes left), and where each node reads its value in the
        # row extended by `_extended`: a missing value as +inf (goes right) or -inf (goes left), by
        # the node's default direction. Six numpy calls a level instead of ten.
        self._next = np.stack([self.right, self.left], axis=1).ravel() * 2
        self._slot = np.repeat(self.feature + n_features * self.default_left, 2)
        self._threshold = np.repeat(self.value, 2)
        self._roots = self.roots * 2
        self._expf = _c_expf()

    def _extended(self, row: Any) -> np.ndarray:
        """The row as XGBoost reads it (float64, then float32), missing values as +inf, then as -inf."""
        x = np.asarray(row, dtype=np.float64).astype(np.float32)
        missing = np.isnan(x)
        return np.concatenate([np.where(missing, np.inf, x), np.where(missing, -np.inf, x)]).astype(np.float32)

    def predict_one(self, row: list[float]) -> float:
        """The probability XGBoost gives `row` (float32, as a Python float)."""
        x = self._extended(row)
        node, following, slot, threshold = self._roots, self._next, self._slot, self._threshold
        for _ in range(self.depth):  # a tree whose leaf is reached stays there
            node = following[node + (x[slot[node]] < threshold[node])]
        margin = float(np.cumsum(threshold[node], dtype=np.float32)[-1])  # leaf values, tree after tree, in float32
        exponential = np.float32(self._expf(min(-margin, _MAX_EXPONENT)))
        return float(_ONE / ((exponential + _ONE) + _EPS))

    def predict_many(self, rows: Any) -> np.ndarray:
        """The probabilities XGBoost gives each of a few `rows` (float32): the same walk with a row
        axis, so each row's bits are `predict_one`'s (the margin summed tree after tree per row).
        Meant for the handful of rows of a micro-batch: its arrays are rows x trees."""
        x = np.asarray(rows, dtype=np.float64).astype(np.float32)
        missing = np.isnan(x)
        extended = np.concatenate([np.where(missing, np.inf, x), np.where(missing, -np.inf, x)], axis=1)
        values = extended.astype(np.float32).ravel()
        offsets = (np.arange(len(x)) * extended.shape[1])[:, None]  # where each row starts in `values`
        node = np.broadcast_to(self._roots, (len(x), len(self._roots)))
        following, slot, threshold = self._next, self._slot, self._threshold
        for _ in range(self.depth):
            node = following[node + (values[offsets + slot[node]] < threshold[node])]
        margins = np.cumsum(threshold[node], axis=1, dtype=np.float32)[:, -1].tolist()
        exponentials = np.array([self._expf(min(-m, _MAX_EXPONENT)) for m in margins], dtype=np.float32)
        return _ONE / ((exponentials + _ONE) + _EPS)

    def contributions_one(self, row: Any) -> np.ndarray:
        """`row`'s Saabas contributions, float32 (n_features + 1,), the bias last: what XGBoost's
        `predict(pred_contribs=True, approx_contribs=True)` gives. The walk finds the row's leaves;
        their rows of the trees' path table (`governance.saabas`, the table batch scoring's vector-leaf
        trees hold) are added tree after tree in float32, then the base margin to the bias."""
        x = self._extended(row)
        node, following, slot, threshold = self._roots, self._next, self._slot, self._threshold
        for _ in range(self.depth):
            node = following[node + (x[slot[node]] < threshold[node])]
        contributions = np.cumsum(self.paths[node // 2], axis=0, dtype=np.float32)[-1]
        if self.base_margin != 0:
            contributions[-1] += self.base_margin
        return contributions


def _depth(left: list[int], right: list[int]) -> int:
    """Edges on the longest root-to-leaf path."""
    deepest, stack = 0, [(0, 0)]
    while stack:
        node, level = stack.pop()
        if left[node] == -1:
            deepest = max(deepest, level)
        else:
            stack += [(left[node], level + 1), (right[node], level + 1)]
    return deepest


def _c_expf() -> Any:
    """The C library's single-precision exp, the one XGBoost's sigmoid calls."""
    library = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
    expf = library.expf
    expf.restype, expf.argtypes = ctypes.c_float, [ctypes.c_float]
    return expf
