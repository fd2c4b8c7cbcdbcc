"""Population stability index (PSI): how far a feature's current distribution has moved from a
reference (the champion's training data). Pure: DataFrames and numbers in, numbers out.

PSI = sum over bins of (a - e) * ln(a / e), with e and a the reference and current shares of
rows in each bin. Numeric features use the reference's quantile bins (right-closed, open ends),
categorical features one bin per reference category plus one for unseen values; missing values
always have a bin of their own. Shares are floored at `EPSILON` so an empty bin gives a large,
finite term. Usual reading: < 0.1 stable, 0.1-0.2 moderate shift, > 0.2 significant shift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

DEFAULT_BINS = 10
EPSILON = 1e-4
#: Upper bounds of the usual PSI bands (stable below the first, significant above the second).
MODERATE, SIGNIFICANT = 0.1, 0.2
UNSEEN = "<unseen>"


@dataclass(frozen=True)
class FeatureProfile:
    """A reference distribution: its bins and the share of reference rows in each.

    Numeric: `edges` are the inner cut points, bins are (-inf, e0], (e0, e1], ..., (ek, inf).
    Categorical: one bin per entry of `categories`, then one for unseen values. In both, the
    last share is that of missing values.
    """

    feature: str
    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    shares: tuple[float, ...]
    rows: int

    def bin_labels(self) -> list[str]:
        """Readable names of the bins, in order (for tables and plots)."""
        if self.kind == "categorical":
            return [*self.categories, UNSEEN, "<missing>"]
        bounds = ["-inf", *(f"{e:.6g}" for e in self.edges), "inf"]
        return [f"({lo}, {hi}]" for lo, hi in zip(bounds, bounds[1:])] + ["<missing>"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see `from_dict`)."""
        return {**asdict(self), "edges": list(self.edges), "categories": list(self.categories),
                "shares": list(self.shares)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureProfile:
        """Inverse of `to_dict`."""
        return cls(feature=data["feature"], kind=data["kind"], edges=tuple(float(e) for e in data["edges"]),
                   categories=tuple(str(c) for c in data["categories"]),
                   shares=tuple(float(s) for s in data["shares"]), rows=int(data["rows"]))


def profile(values: pd.Series, *, feature: str | None = None, categorical: bool = False,
            bins: int = DEFAULT_BINS) -> FeatureProfile:
    """The reference profile of one feature: quantile bins (numeric) or its categories."""
    name = str(feature if feature is not None else values.name)
    if len(values) == 0:
        raise ValueError(f"feature '{name}': the reference has no rows; a profile needs data")
    if bins < 2:
        raise ValueError(f"feature '{name}': bins must be at least 2, got {bins}")
    present = values[values.notna()]
    if categorical:
        categories = tuple(sorted({str(v) for v in present}))
        draft = FeatureProfile(name, "categorical", (), categories, (), len(values))
    else:
        numbers = _numeric(present, name)
        quantiles = np.quantile(numbers, np.arange(1, bins) / bins) if len(numbers) else np.array([])
        edges = tuple(float(e) for e in np.unique(quantiles))
        draft = FeatureProfile(name, "numeric", edges, (), (), len(values))
    shares = tuple(float(s) for s in bin_shares(draft, values))
    return FeatureProfile(draft.feature, draft.kind, draft.edges, draft.categories, shares, draft.rows)


def bin_shares(reference: FeatureProfile, values: pd.Series) -> np.ndarray:
    """The share of `values` in each bin of `reference` (sums to 1; missing values last)."""
    if len(values) == 0:
        raise ValueError(f"feature '{reference.feature}': no current rows to compare with the reference")
    missing = values.isna().to_numpy()
    present = values[~missing]
    if reference.kind == "categorical":
        unseen = len(reference.categories)
        codes = pd.Categorical(present.astype(str), categories=list(reference.categories)).codes
        positions = np.where(codes < 0, unseen, codes).astype(np.int64)
        n_bins = unseen + 1
    else:
        numbers = _numeric(present, reference.feature)
        positions = np.searchsorted(np.asarray(reference.edges, dtype=np.float64), numbers, side="left")
        n_bins = len(reference.edges) + 1
    counts = np.bincount(positions, minlength=n_bins).astype(np.float64)
    counts = np.append(counts, float(missing.sum()))
    return counts / len(values)


def psi_from_shares(expected: np.ndarray, actual: np.ndarray, *, epsilon: float = EPSILON) -> float:
    """PSI of two share vectors over the same bins (each floored at `epsilon`)."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), epsilon)
    a = np.maximum(np.asarray(actual, dtype=np.float64), epsilon)
    if e.shape != a.shape:
        raise ValueError(f"share vectors differ in length: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def psi(reference: FeatureProfile, values: pd.Series) -> float:
    """PSI of `values` against the reference profile."""
    return psi_from_shares(np.asarray(reference.shares), bin_shares(reference, values))


def level(value: float) -> str:
    """The usual reading of a PSI value: stable, moderate or significant."""
    if value < MODERATE:
        return "stable"
    return "moderate" if value < SIGNIFICANT else "significant"


def profile_frame(frame: pd.DataFrame, *, categorical: Iterable[str] = (), bins: int = DEFAULT_BINS,
                  features: Iterable[str] | None = None) -> dict[str, FeatureProfile]:
    """Reference profiles of the given features (default: every column) of `frame`."""
    names = list(features) if features is not None else list(frame.columns)
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ValueError(f"reference data has no column(s) {missing}; it has {list(frame.columns)}")
    kinds = set(categorical)
    return {n: profile(frame[n], feature=n, categorical=n in kinds, bins=bins) for n in names}


def psi_table(profiles: Mapping[str, FeatureProfile], current: pd.DataFrame) -> pd.DataFrame:
    """One row per profiled feature: feature, psi, level, reference_rows, current_rows; largest PSI first."""
    missing = [n for n in profiles if n not in current.columns]
    if missing:
        raise ValueError(f"current data has no column(s) {missing} that the reference profiles")
    rows = []
    for name, reference in profiles.items():
        value = psi(reference, current[name])
        rows.append({"feature": name, "psi": value, "level": level(value),
                     "reference_rows": reference.rows, "current_rows": len(current)})
    table = pd.DataFrame(rows, columns=["feature", "psi", "level", "reference_rows", "current_rows"])
    return table.sort_values(["psi", "feature"], ascending=[False, True], kind="stable").reset_index(drop=True)


def ranked_beyond(psi_by_feature: Mapping[str, float], threshold: float) -> tuple[list[tuple[str, float]],
                                                                                 list[tuple[str, float]]]:
    """(every feature, the features whose PSI passes `threshold`), each largest PSI first (ties by name)."""
    ranked = sorted(((f, float(v)) for f, v in psi_by_feature.items()), key=lambda item: (-item[1], item[0]))
    return ranked, [(feature, value) for feature, value in ranked if value > threshold]


def _numeric(values: pd.Series, feature: str) -> np.ndarray:
    try:
        return values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        sample = values.head(3).tolist()
        raise ValueError(f"feature '{feature}' is not numeric (e.g. {sample}); profile it as categorical") from None
