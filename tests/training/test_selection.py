"""Feature selection on train + validation: low-variance and redundant columns go with a reason,
noise is not kept, the signal ranks first, and the subset is adopted only when no worse on validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from fraud_pipelines.training.selection import RANKING_PARAMS, SelectionPolicy, rank_features

FAST = SelectionPolicy(n_repeats=3, seed=1, params=replace(RANKING_PARAMS, n_jobs=1))


@pytest.fixture(scope="module")
def ranked(splits):
    def widen(X):
        return X.assign(constant=1.0, x0_copy=X["x0"] * 2.0 + 1.0)

    return rank_features(widen(splits.X_train), splits.y_train, widen(splits.X_val), splits.y_val, FAST)


def test_low_variance_and_redundant_features_go_with_their_reason(ranked):
    reasons = dict(zip(ranked.ranking["feature"], ranked.ranking["reason"]))
    assert reasons["constant"].startswith("low variance")
    # x0 and its copy are perfectly correlated: exactly one of them is dropped as redundant
    redundant = [name for name in ("x0", "x0_copy") if reasons[name].startswith("redundant")]
    assert len(redundant) == 1 and "Spearman +1.000" in reasons[redundant[0]]


def test_the_signal_ranks_first_and_noise_far_below(ranked):
    top_two = set(ranked.ranking["feature"].head(2))
    assert "x1" in top_two and top_two & {"x0", "x0_copy"}
    importance = ranked.ranking.set_index("feature")["permutation_importance"]
    assert importance["x1"] > 0.1 and importance["noise"] < importance["x1"] / 10
    assert "constant" not in ranked.selected
    assert list(ranked.ranking["selected"]) == [name in ranked.selected for name in ranked.ranking["feature"]]


def test_adoption_follows_validation_pr_auc(ranked):
    assert ranked.adopted == (ranked.selected_validation_pr_auc > ranked.full_validation_pr_auc)
    assert ranked.features == (ranked.selected if ranked.adopted else ranked.candidates)
    assert ranked.candidates == ("x0", "x1", "category", "amount_scaled", "noise", "constant", "x0_copy")
    assert "features selected" in ranked.reason() and "| `x1` |" in ranked.markdown()


def test_selection_receives_only_the_rows_it_is_given(ranked, splits):
    assert ranked.rows == {"train": len(splits.X_train), "validation": len(splits.X_val)}


def test_max_features_keeps_the_most_useful_and_a_negative_gain_forces_adoption(splits):
    policy = replace(FAST, max_features=2, min_gain=-1.0)
    result = rank_features(splits.X_train, splits.y_train, splits.X_val, splits.y_val, policy)
    assert set(result.selected) == {"x0", "x1"} and result.adopted
    assert any(reason.startswith("beyond max_features=2") for reason in result.ranking["reason"])


def test_same_seed_same_ranking(splits):
    first = rank_features(splits.X_train, splits.y_train, splits.X_val, splits.y_val, FAST)
    again = rank_features(splits.X_train, splits.y_train, splits.X_val, splits.y_val, FAST)
    assert first.ranking.equals(again.ranking) and first.selected == again.selected


def test_policy_refuses_nonsense():
    with pytest.raises(ValueError, match="max_correlation"):
        SelectionPolicy(max_correlation=0.0)
    with pytest.raises(ValueError, match="max_features"):
        SelectionPolicy(max_features=0)
    assert np.isclose(SelectionPolicy().max_mode_share, 0.999)
