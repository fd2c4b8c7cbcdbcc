"""Card tokens: keyed, stable, int64, refused on collision; and the feature logic gives the same
features on tokens as on card numbers (pseudonymization changes no feature, hence no decision)."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from feature_logic.card_state import card_versions, recent_charges
from feature_logic.synthetic import SyntheticConfig, SyntheticGenerator
from feature_logic.transactions import transaction_features
from feature_logic.windows import window_aggregates
from fraud_pipelines.privacy.tokens import KEY_ENV, TokenCollision, Tokenizer, key_path, load_key, mask, tokenizer

KEY = bytes(range(32))


def test_tokens_are_keyed_stable_positive_int64_and_accept_digit_strings():
    cards = Tokenizer(KEY)
    pans = np.array([4444037300542691, 5500000000000004, 4444037300542691], dtype=np.int64)
    tokens = cards.tokens(pans)
    assert tokens.dtype == np.int64 and (tokens > 0).all()
    assert tokens[0] == tokens[2] != tokens[1]
    assert cards.token("4444037300542691") == cards.token(4444037300542691) == tokens[0]
    assert Tokenizer(KEY[::-1]).token(4444037300542691) != tokens[0]  # another key, other tokens
    big = 9_999_999_999_999_999_999  # 19 digits: beyond int64, a valid PAN length
    assert 0 < cards.token(str(big)) < 2**63
    assert cards.tokens(np.array([big], dtype=np.uint64))[0] == cards.token(big)


def test_batches_mixing_cards_seen_before_and_new_ones_get_each_cards_own_token():
    """The memo of earlier batches (and of `token`) gives the token a fresh tokenizer computes alone."""
    rng = np.random.default_rng(3)
    seen = rng.integers(10**15, 10**16, 500, dtype=np.int64)
    cards = Tokenizer(KEY)
    cards.token(int(seen[0]))
    for size in (1, 40, 700):
        pans = np.concatenate([seen[rng.integers(0, len(seen), size)], rng.integers(10**11, 10**12, size)])
        expected = np.array([Tokenizer(KEY).token(int(p)) for p in pans], dtype=np.int64)
        assert (cards.tokens(pans) == expected).all()
        assert (cards.tokens(pans[::-1]) == expected[::-1]).all()


@pytest.mark.parametrize("bad", ["44x4", "", "12345678901234567890", 0, -5, True, 2**64])
def test_a_bad_card_number_is_refused_without_echoing_it(bad):
    with pytest.raises(ValueError) as refused:
        Tokenizer(KEY).token(bad)
    if isinstance(bad, str) and len(bad) > 4:
        assert bad not in str(refused.value)


def test_two_card_numbers_with_one_token_are_refused_naming_only_their_last_digits():
    weak = Tokenizer(KEY, bits=6)  # 64 possible tokens: 200 cards must collide
    pans = 4_000_000_000_000_000 + np.arange(200, dtype=np.int64) * 7919
    with pytest.raises(TokenCollision) as refused:
        weak.tokens(pans)
    message = str(refused.value)
    assert "share one token" in message and "cc_num" in message and len(message) < 2_000
    assert not any(str(p) in message for p in pans)


def test_the_demo_key_is_generated_once_announced_and_private(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(FileNotFoundError, match=KEY_ENV):
        load_key(tmp_path)
    key = load_key(tmp_path, create=True)
    assert "generated a demo card token key" in capsys.readouterr().err
    assert load_key(tmp_path) == key and len(key) == 32
    assert key_path(tmp_path).stat().st_mode & 0o077 == 0
    monkeypatch.setenv(KEY_ENV, "ab" * 32)
    assert load_key(tmp_path) == bytes.fromhex("ab" * 32)
    assert tokenizer(tmp_path).token(42) == Tokenizer(bytes.fromhex("ab" * 32)).token(42)


def test_mask_keeps_the_last_four_digits():
    assert mask(4444037300542691) == "************2691"
    assert mask("123") == "****"


def test_features_on_tokens_equal_features_on_card_numbers():
    """The card number is only ever a key: grouping and joins by token give the same values, in the
    same row order, so the model sees the same inputs before and after pseudonymization."""
    generator = SyntheticGenerator(SyntheticConfig(n_cards=150, transactions_per_day=900, seed=3))
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    charges = pd.concat([generator.day(d).transactions for d in days], ignore_index=True)
    profiles, cards = generator.profiles(until=days[-1]), generator.credit_cards(until=days[-1])
    tokens = Tokenizer(KEY)

    def tokenized(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(cc_num=tokens.tokens(frame["cc_num"]))

    plain = transaction_features(charges, profiles, cards)
    pseudo = transaction_features(tokenized(charges), tokenized(profiles), tokenized(cards))
    assert (pseudo["cc_num"].to_numpy() == tokens.tokens(plain["cc_num"])).all()
    pd.testing.assert_frame_equal(pseudo.drop(columns="cc_num"), plain.drop(columns="cc_num"))

    start, end = datetime(2025, 1, 2, tzinfo=timezone.utc), datetime(2025, 1, 4, tzinfo=timezone.utc)
    windows_plain = window_aggregates(plain, start=start, end=end)
    windows_pseudo = window_aggregates(pseudo, start=start, end=end)
    pd.testing.assert_frame_equal(windows_pseudo.drop(columns="cc_num", errors="ignore"),
                                  windows_plain.drop(columns="cc_num", errors="ignore"))

    # The online card state is per card: the same states, under the token.
    state_plain = recent_charges(plain, end=end).assign(cc_num=lambda f: tokens.tokens(f["cc_num"]))
    state_pseudo = recent_charges(pseudo, end=end)
    key = ["cc_num"]
    pd.testing.assert_frame_equal(state_pseudo.sort_values(key).reset_index(drop=True),
                                  state_plain.sort_values(key).reset_index(drop=True))
    versions_plain = card_versions(profiles, cards).assign(cc_num=lambda f: tokens.tokens(f["cc_num"]))
    pd.testing.assert_frame_equal(card_versions(tokenized(profiles), tokenized(cards)).sort_values(key)
                                  .reset_index(drop=True), versions_plain.sort_values(key).reset_index(drop=True))
