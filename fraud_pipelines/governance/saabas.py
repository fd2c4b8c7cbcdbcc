"""Saabas contributions (XGBoost's `approx_contribs`) as a table of the trees' nodes, summed by
XGBoost's own prediction loop.

Along a tree, Saabas credits each split's feature with the change of the node's mean value from the
node to the child the row goes to, and the bias with the root's mean. What a tree gives a row
therefore depends only on the leaf it reaches: `path_contributions` is that vector for every node,
computed once per model in XGBoost's float32 order. A row's contributions are its leaves' vectors
added tree after tree, which is what XGBoost's predictor does with vector leaves: `SaabasTrees`
builds a copy of the trees whose leaves hold those vectors (plus the tree's own leaf value, so the
same pass also gives the margin) and asks XGBoost for its margins. A base score other than 0.5 (XGBoost
estimates one from the labels and weights unless told) is XGBoost's own base margin (`base_margin`):
where the margin starts, and what the bias gets last. The result is `approx_contribs`
bit for bit at the cost of one prediction instead of three (checked when built, and in tests); the
REST service's one-row walk (`serving.flat_trees`) adds the same table rows in the same order.
xgboost is imported lazily; the booster is passed in.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

#: Rows (random, with missing values, plus every split threshold) `SaabasTrees` checks against XGBoost when built.
CHECK_ROWS = 256


class Unsupported(ValueError):
    """The booster has something the table does not reproduce (XGBoost's own call is used instead)."""


def node_means(tree: dict[str, Any]) -> np.ndarray:
    """Each node's mean value as XGBoost's FillNodeMeanValues computes it in float32: a leaf's value;
    an internal node's children's means weighted by their hessian sums, over its own."""
    left, right = tree["left_children"], tree["right_children"]
    value = np.asarray(tree["split_conditions"], dtype=np.float32)
    hessian = np.asarray(tree["sum_hessian"], dtype=np.float32)
    mean = np.zeros(len(left), dtype=np.float32)
    for node in reversed(_parents_first(left, right)):  # children before their parent
        a, b = left[node], right[node]
        if a == -1:
            mean[node] = value[node]
        else:
            total = mean[a] * hessian[a]
            total += mean[b] * hessian[b]
            mean[node] = total / hessian[node]
    return mean


def path_contributions(tree: dict[str, Any], n_features: int) -> np.ndarray:
    """Per node of `tree` (its JSON), float32 (n_nodes, n_features + 1): what Saabas credits a row
    whose path ends there, the bias (the root's mean) last. Each step adds (child mean - node mean)
    in float32 to the split's feature, in path order, as XGBoost's CalculateContributionsApprox does."""
    left, right, split = tree["left_children"], tree["right_children"], tree["split_indices"]
    mean = node_means(tree)
    table = np.zeros((len(left), n_features + 1), dtype=np.float32)
    table[0, n_features] = mean[0]
    for node in _parents_first(left, right):
        if left[node] != -1:
            for child in (left[node], right[node]):
                table[child] = table[node]
                table[child, split[node]] += mean[child] - mean[node]
    return table


def _parents_first(left: list[int], right: list[int]) -> list[int]:
    order, stack = [], [0]
    while stack:
        node = stack.pop()
        order.append(node)
        if left[node] != -1:
            stack += [left[node], right[node]]
    return order


class SaabasTrees:
    """The trees of `iteration_range` as XGBoost vector-leaf trees whose outputs are the Saabas
    contributions (n_features, then the bias) and the margin: one prediction gives both. Refuses
    (`Unsupported`) a booster it does not reproduce bit for bit on its check rows."""

    def __init__(self, booster: Any, n_features: int, iteration_range: tuple[int, int], missing: float) -> None:
        self.n_features = n_features
        self.iteration_range = (int(iteration_range[0]), int(iteration_range[1]))
        self.missing = float(missing)
        model = json.loads(booster.save_raw("json"))
        learner = model["learner"]
        if learner["objective"]["name"] != "binary:logistic":
            raise Unsupported(f"objective {learner['objective']['name']}")
        parameters = learner["learner_model_param"]
        if int(parameters.get("num_class", 0)) > 1 or int(parameters.get("num_target", 1)) != 1:
            raise Unsupported("several outputs")
        gbtree = learner["gradient_booster"]
        parallel = int(gbtree["model"]["gbtree_model_param"].get("num_parallel_tree", 1))
        if gbtree.get("name") != "gbtree" or parallel != 1:
            raise Unsupported(f"booster {gbtree.get('name')} (only gbtree with one tree a round is handled)")
        begin, end = self.iteration_range
        trees = gbtree["model"]["trees"][begin:end if end > 0 else None]
        if not trees or any(any(t["split_type"]) for t in trees):
            raise Unsupported("no trees" if not trees else "categorical splits")
        self.n_trees = len(trees)
        self.base_margin = base_margin(model)
        self._explain = _load(_vector_leaf_model(model, trees, n_features, self.base_margin))
        self._sigmoid = _load(_without_trees(model))
        self._check(booster, check_rows(trees, n_features))

    def predict(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For float64 rows (n, n_features): the Saabas contributions, float32 (n, n_features + 1), bias
        last (`approx_contribs`' bits), and the trees' probability, float32 (n,) (`predict_proba`'s bits)."""
        out = self._margins(matrix)
        return out[:, :-1], self.probabilities(out[:, -1])

    def contributions(self, matrix: np.ndarray) -> np.ndarray:
        """`approx_contribs` of float64 rows: float32 (n, n_features + 1), the bias last."""
        return self._margins(matrix)[:, :-1]

    def _margins(self, matrix: np.ndarray) -> np.ndarray:
        """The vector-leaf trees' outputs: contributions, bias (plus the base margin, added last as
        XGBoost adds it), margin (which starts from the base margin, as XGBoost's does)."""
        out = self._outputs(matrix)
        if self.base_margin != 0:
            out[:, -2] += self.base_margin
        return out

    def probabilities(self, margins: np.ndarray) -> np.ndarray:
        """XGBoost's own sigmoid of float32 margins (a model without trees, the margins as base margin)."""
        margins = np.ascontiguousarray(margins, dtype=np.float32)
        return self._sigmoid.inplace_predict(np.zeros((len(margins), self.n_features)), base_margin=margins,
                                             predict_type="value", validate_features=False)

    def _outputs(self, matrix: np.ndarray) -> np.ndarray:
        if matrix.ndim != 2 or matrix.shape[1] != self.n_features:
            raise ValueError(f"expected rows of {self.n_features} features, got an array of shape {matrix.shape}")
        if not len(matrix):
            return np.zeros((0, self.n_features + 2), dtype=np.float32)
        return self._explain.inplace_predict(matrix, predict_type="margin", missing=self.missing,
                                             validate_features=False).reshape(len(matrix), self.n_features + 2)

    def _check(self, booster: Any, rows: np.ndarray) -> None:
        """Contributions, margins and probabilities equal XGBoost's bit for bit on `rows`."""
        from xgboost import DMatrix

        out = self._margins(rows)
        expected = {
            "approx_contribs": booster.predict(DMatrix(rows, missing=self.missing), pred_contribs=True,
                                               approx_contribs=True, iteration_range=self.iteration_range,
                                               validate_features=False),
            "margin": booster.inplace_predict(rows, iteration_range=self.iteration_range, predict_type="margin",
                                              missing=self.missing, validate_features=False),
            "probability": booster.inplace_predict(rows, iteration_range=self.iteration_range, predict_type="value",
                                                   missing=self.missing, validate_features=False),
        }
        got = {"approx_contribs": out[:, :-1], "margin": out[:, -1], "probability": self.probabilities(out[:, -1])}
        for name, values in got.items():
            want = np.asarray(expected[name], dtype=np.float32)
            if values.shape != want.shape or not np.array_equal(values.view(np.int32), want.view(np.int32)):
                raise Unsupported(f"the vector-leaf trees disagree with XGBoost's {name} on {len(rows)} check rows")


def check_rows(trees: list[dict[str, Any]], n_features: int, count: int = CHECK_ROWS) -> np.ndarray:
    """Rows that reach many leaves of `trees` (their JSON): random values with 20 % missing, then rows
    of the features' split thresholds (a value on a threshold goes right)."""
    rng = np.random.default_rng(0)
    rows = rng.normal(0.0, 100.0, size=(count, n_features))
    rows[rng.random(rows.shape) < 0.2] = np.nan
    on_thresholds = np.full((count, n_features), np.nan)
    for feature in range(n_features):
        values = np.unique([c for t in trees for c, f, a in zip(t["split_conditions"], t["split_indices"],
                                                                 t["left_children"]) if a != -1 and f == feature])
        if len(values):
            on_thresholds[:, feature] = rng.choice(values, size=count)
    return np.concatenate([rows, on_thresholds])


def base_margin(model: dict[str, Any]) -> np.float32:
    """XGBoost's margin before any tree of `model` (its JSON): the base score as a margin (0 for 0.5),
    as XGBoost itself computes it (the margin of a copy whose only tree is one leaf of value 0)."""
    if [float(v) for v in model["learner"]["learner_model_param"]["base_score"].strip("[]").split(",")] == [0.5]:
        return np.float32(0.0)
    gbtree = model["learner"]["gradient_booster"]
    first = gbtree["model"]["trees"][0]
    leaf = dict(first, base_weights=[0.0], default_left=[0], id=0, left_children=[-1], loss_changes=[0.0],
                parents=[2147483647], right_children=[-1], split_conditions=[0.0], split_indices=[0], split_type=[0],
                sum_hessian=[1.0], categories=[], categories_nodes=[], categories_segments=[], categories_sizes=[],
                tree_param=dict(first["tree_param"], num_nodes="1"))
    stump = _with_trees(model, [leaf])
    n_features = int(model["learner"]["learner_model_param"]["num_feature"])
    try:
        margin = _load(stump).inplace_predict(np.zeros((1, max(n_features, 1))), predict_type="margin",
                                              validate_features=False)
    except Exception as error:  # noqa: BLE001 -- whatever XGBoost refuses: the caller falls back to XGBoost's calls
        raise Unsupported(f"base score {model['learner']['learner_model_param']['base_score']} not read as a margin "
                          f"({type(error).__name__}: {error})") from error
    return np.float32(np.asarray(margin).ravel()[0])


def _vector_leaf_model(model: dict[str, Any], trees: list[dict[str, Any]], n_features: int,
                       margin: float = 0.0) -> dict[str, Any]:
    """`model` with `trees` as one-target-per-output vector-leaf trees: each leaf's outputs are its
    path contributions and its own value; a regression model whose base score is 0, but `margin` (the
    original's base margin) for the last output, so its margins are the sums over trees, the last one
    started where XGBoost starts the original's."""
    width = n_features + 2
    base = ["0"] * (width - 1) + [repr(float(margin))]
    vector_trees = []
    for number, tree in enumerate(trees):
        left = tree["left_children"]
        table = np.concatenate([path_contributions(tree, n_features),
                                np.asarray(tree["split_conditions"], dtype=np.float32)[:, None]], axis=1)
        leaves = [node for node in range(len(left)) if left[node] == -1]
        leaf_number = {node: k for k, node in enumerate(leaves)}
        vector_trees.append(dict(
            tree, id=number, base_weights=table.ravel().tolist(), leaf_weights=table[leaves].ravel().tolist(),
            right_children=[leaf_number[n] if left[n] == -1 else r for n, r in enumerate(tree["right_children"])],
            tree_param=dict(tree["tree_param"], size_leaf_vector=str(width)),
        ))
    learner = model["learner"]
    gbtree = learner["gradient_booster"]
    return {**model, "learner": {
        **learner,
        "learner_model_param": {**learner["learner_model_param"], "base_score": f"[{','.join(base)}]",
                                "boost_from_average": "0", "num_class": "0", "num_target": str(width)},
        "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
        "gradient_booster": {**gbtree, "model": {
            **gbtree["model"], "trees": vector_trees, "tree_info": [0] * len(vector_trees),
            "iteration_indptr": list(range(len(vector_trees) + 1)),
            "gbtree_model_param": {**gbtree["model"]["gbtree_model_param"], "num_trees": str(len(vector_trees))},
        }},
    }}


def _without_trees(model: dict[str, Any]) -> dict[str, Any]:
    """`model` with no trees: its prediction is the objective's transform of the base margin given."""
    return _with_trees(model, [])


def _with_trees(model: dict[str, Any], trees: list[dict[str, Any]]) -> dict[str, Any]:
    """`model` (its JSON) holding only `trees`, one a round."""
    learner = model["learner"]
    gbtree = learner["gradient_booster"]
    return {**model, "learner": {**learner, "gradient_booster": {**gbtree, "model": {
        **gbtree["model"], "trees": trees, "tree_info": [0] * len(trees),
        "iteration_indptr": list(range(len(trees) + 1)),
        "gbtree_model_param": {**gbtree["model"]["gbtree_model_param"], "num_trees": str(len(trees))},
    }}}}


def _load(model: dict[str, Any]) -> Any:
    from xgboost import Booster

    booster = Booster()
    booster.load_model(bytearray(json.dumps(model, allow_nan=False).encode()))
    return booster

