"""PSI on known answers: identical data is stable, a shifted feature is not, categories and
missing values have bins of their own, and profiles survive a JSON round trip."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from fraud_pipelines.automation import drift


def test_psi_of_two_share_vectors_matches_the_formula():
    expected, actual = np.array([0.5, 0.5]), np.array([0.25, 0.75])
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert drift.psi_from_shares(expected, actual) == pytest.approx(by_hand, rel=1e-12)
    assert drift.psi_from_shares(expected, expected) == 0.0


def test_same_data_is_stable_and_a_shift_is_significant():
    rng = np.random.default_rng(7)
    reference = pd.Series(rng.lognormal(3.5, 1.0, 20_000), name="amount")
    ref = drift.profile(reference)
    assert len(ref.edges) == drift.DEFAULT_BINS - 1
    assert sum(ref.shares) == pytest.approx(1.0)
    assert ref.shares[-1] == 0.0  # no missing values
    assert drift.psi(ref, reference) == pytest.approx(0.0, abs=1e-12)

    same_population = pd.Series(rng.lognormal(3.5, 1.0, 5_000))
    assert drift.psi(ref, same_population) < drift.MODERATE
    tripled = same_population * 3  # e.g. every amount tripled
    value = drift.psi(ref, tripled)
    assert value > drift.SIGNIFICANT
    assert drift.level(value) == "significant" and drift.level(0.15) == "moderate" and drift.level(0.01) == "stable"


def test_ties_collapse_bins_and_values_on_an_edge_fall_in_the_closed_bin():
    counts = pd.Series([1] * 70 + [2] * 20 + [3] * 10, name="trans_freq")  # a discrete feature
    ref = drift.profile(counts)
    assert ref.edges == tuple(sorted(set(ref.edges)))  # unique cut points
    shares = drift.bin_shares(ref, counts)
    assert shares[0] == pytest.approx(0.7)  # (-inf, 1]
    assert drift.psi(ref, counts) == pytest.approx(0.0, abs=1e-12)
    assert drift.psi(ref, pd.Series([3] * 100)) > drift.SIGNIFICANT


def test_categories_and_unseen_values():
    reference = pd.Series(["grocery"] * 50 + ["travel"] * 50, name="category")
    ref = drift.profile(reference, categorical=True)
    assert ref.categories == ("grocery", "travel")
    assert ref.bin_labels() == ["grocery", "travel", drift.UNSEEN, "<missing>"]
    current = pd.Series(["grocery"] * 50 + ["casino"] * 50)
    shares = drift.bin_shares(ref, current)
    assert list(shares) == [0.5, 0.0, 0.5, 0.0]
    assert drift.psi(ref, current) > 1.0


def test_missing_values_have_their_own_bin():
    reference = pd.Series(np.arange(1_000, dtype=float), name="loc_delta_t_minus_1")
    ref = drift.profile(reference)
    current = reference.copy()
    current.iloc[:300] = np.nan  # 30 % of cards now without a previous charge
    shares = drift.bin_shares(ref, current)
    assert shares[-1] == pytest.approx(0.3)
    assert drift.psi(ref, current) > drift.SIGNIFICANT


def test_psi_table_ranks_features_and_profiles_round_trip_through_json():
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"amount": rng.normal(50, 10, 4_000), "age": rng.normal(40, 12, 4_000),
                          "category": rng.choice(["a", "b", "c"], 4_000)})
    profiles = drift.profile_frame(frame, categorical=["category"], bins=8)
    restored = {n: drift.FeatureProfile.from_dict(json.loads(json.dumps(p.to_dict()))) for n, p in profiles.items()}
    assert restored == profiles
    current = frame.assign(amount=frame["amount"] + 15)  # 1.5 standard deviations
    table = drift.psi_table(restored, current)
    assert list(table.columns) == ["feature", "psi", "level", "reference_rows", "current_rows"]
    assert table["feature"].iloc[0] == "amount" and table["level"].iloc[0] == "significant"
    assert (table.set_index("feature").loc[["age", "category"], "psi"] < drift.MODERATE).all()


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="feature 'x': the reference has no rows"):
        drift.profile(pd.Series([], dtype=float, name="x"))
    with pytest.raises(ValueError, match="feature 'category' is not numeric"):
        drift.profile(pd.Series(["a", "b"], name="category"))
    ref = drift.profile(pd.Series([1.0, 2.0, 3.0], name="amount"))
    with pytest.raises(ValueError, match="feature 'amount': no current rows"):
        drift.psi(ref, pd.Series([], dtype=float))
    with pytest.raises(ValueError, match=r"current data has no column\(s\) \['amount'\]"):
        drift.psi_table({"amount": ref}, pd.DataFrame({"other": [1.0]}))


def test_features_beyond_the_threshold_are_ranked_largest_first():
    ranked, beyond = drift.ranked_beyond({"b": 0.3, "a": 0.3, "c": 0.05, "d": 0.2}, 0.2)
    assert ranked == [("a", 0.3), ("b", 0.3), ("d", 0.2), ("c", 0.05)]
    assert beyond == [("a", 0.3), ("b", 0.3)]  # strictly above the threshold
