"""Card numbers (PANs) replaced by keyed tokens before anything is stored, served or logged.

A token is HMAC-SHA-256(key, the PAN's decimal digits), its first 8 bytes read big-endian and
masked to 63 bits: a positive int64, so every table, join and the online store keep their types.
Without the key a token cannot be linked back to a card (no rainbow table over the ~10^15 PANs of
an issuer range helps); with it, `forget --card PAN` finds the card's rows. The key comes from
`$FRAUD_TOKEN_KEY` (hex or text), else from `$FRAUD_HOME/secrets/token.key`, which the demo
generates once and announces. Two PANs of one batch with one token are refused (`TokenCollision`).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sys
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

KEY_ENV = "FRAUD_TOKEN_KEY"
#: Card numbers whose tokens a tokenizer keeps in memory (about 100 MB); beyond it the memo starts over.
_KNOWN_LIMIT = 1_000_000
KEY_FILE = "secrets/token.key"
#: The column that carries the card: a PAN on the way in, its token once stored.
CARD_COLUMN = "cc_num"
#: PANs are 12 to 19 digits (ISO/IEC 7812); 19 digits go beyond int64, so PANs travel as uint64 or text.
MAX_PAN = 10**19 - 1


class TokenCollision(ValueError):
    """Two different card numbers gave one token: storing both would merge two cards."""


class Tokenizer:
    """HMAC-SHA-256 tokens of card numbers under one secret key."""

    def __init__(self, key: bytes, *, bits: int = 63) -> None:
        if len(key) < 16:
            raise ValueError(f"the token key must be at least 16 bytes, got {len(key)} (set ${KEY_ENV})")
        if not 1 <= bits <= 63:
            raise ValueError(f"tokens have 1 to 63 bits, not {bits}")
        self._key = key
        self._mask = (1 << bits) - 1  # fewer bits only to show collisions being refused
        self._known: dict[int, int] = {}  # card number -> token, so a backfill hashes each card once
        # the cards `tokens` has seen, in card order, with their tokens: a batch's lookup is vectorized
        self._sorted_pans, self._sorted_tokens = np.empty(0, np.uint64), np.empty(0, np.int64)
        #: A short public fingerprint of the key: recorded where tokens are, so a rotation is visible.
        self.key_id = hashlib.sha256(b"fraud_pipelines key id:" + key).hexdigest()[:12]

    def token(self, pan: int | str) -> int:
        """The token of one card number given as an integer or a string of digits: `tokens`' memo and
        digest in plain Python (the REST service's path, once per request: no numpy or pandas)."""
        number = _pan_int(pan)
        known = self._known
        found = known.get(number)
        if found is None:
            if len(known) >= _KNOWN_LIMIT:
                known.clear()
            found = known[number] = self._digest(number)
        return found

    def tokens(self, pans: Iterable[int] | np.ndarray | pd.Series) -> np.ndarray:
        """Tokens (int64) of many card numbers: each distinct PAN is hashed once, so the cost follows
        the number of cards, not of charges. Raises TokenCollision when two distinct PANs share a token."""
        values = _as_uint64(pans)
        codes, uniques = pd.factorize(values, sort=False)
        if max(len(self._known), len(self._sorted_pans)) + len(uniques) > _KNOWN_LIMIT:
            self._known.clear()
            self._sorted_pans, self._sorted_tokens = np.empty(0, np.uint64), np.empty(0, np.int64)
        # Cards seen by earlier calls are looked up in sorted arrays (one binary search for all of them);
        # only the others go through the dict and, if new, the digest.
        where = np.minimum(np.searchsorted(self._sorted_pans, uniques), max(len(self._sorted_pans) - 1, 0))
        found = (self._sorted_pans[where] == uniques) if len(self._sorted_pans) else np.zeros(len(uniques), bool)
        hashed = np.empty(len(uniques), dtype=np.int64)
        hashed[found] = self._sorted_tokens[where[found]]
        missing = uniques[~found]
        if len(missing):
            known = self._known
            hashed[~found] = fresh = np.fromiter(
                (known[p] if p in known else known.setdefault(p, self._digest(p)) for p in missing.tolist()),
                dtype=np.int64, count=len(missing))
            all_pans = np.concatenate([self._sorted_pans, missing])
            all_tokens = np.concatenate([self._sorted_tokens, fresh])
            order = np.argsort(all_pans, kind="stable")
            self._sorted_pans, self._sorted_tokens = all_pans[order], all_tokens[order]
        if len(np.unique(hashed)) != len(hashed):
            raise TokenCollision(_collision_message(uniques, hashed))
        return hashed[codes]

    def _digest(self, pan: int) -> int:
        digest = hmac.new(self._key, str(pan).encode("ascii"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big") & self._mask


def mask(pan: int | str) -> str:
    """A card number as its last four digits (what a person may be shown)."""
    digits = str(pan)
    return "*" * max(len(digits) - 4, 0) + digits[-4:] if len(digits) > 4 else "****"


def key_path(home: str | os.PathLike[str]) -> Path:
    """Where the generated demo key lives under `$FRAUD_HOME`."""
    return Path(home) / KEY_FILE


def load_key(home: str | os.PathLike[str], *, create: bool = False) -> bytes:
    """The token key: `$FRAUD_TOKEN_KEY`, else the key file under `home`; with `create`, a new random
    key file is written (mode 0600) and announced on stderr. Without either, an error says what to set."""
    explicit = os.environ.get(KEY_ENV, "").strip()
    if explicit:
        try:
            return bytes.fromhex(explicit) if len(explicit) >= 32 and len(explicit) % 2 == 0 else explicit.encode()
        except ValueError:
            return explicit.encode()
    path = key_path(home)
    if path.is_file():
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    if not create:
        raise FileNotFoundError(f"no card token key: set ${KEY_ENV} (32+ random bytes as hex) or create {path} "
                                "(the demo generates one)")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as handle:
        handle.write(key.hex() + "\n")
    print(f"NOTICE: generated a demo card token key at {path}: card numbers are stored only as tokens under "
          f"this key. For real data set ${KEY_ENV} from your secret store instead.", file=sys.stderr)
    return key


def tokenizer(home: str | os.PathLike[str] | None = None, *, create: bool = True) -> Tokenizer:
    """The tokenizer of `$FRAUD_HOME` (cached per key source)."""
    from fraud_pipelines.settings import local_home

    folder = Path(home) if home is not None else local_home()
    return _cached(os.environ.get(KEY_ENV, ""), str(folder.resolve()), create)


@lru_cache(maxsize=4)
def _cached(_explicit: str, home: str, create: bool) -> Tokenizer:
    return Tokenizer(load_key(home, create=create))


def _pan_int(pan: int | str) -> int:
    if isinstance(pan, bool):
        raise ValueError("a card number is an integer or a string of digits, not a boolean")
    if isinstance(pan, str):
        text = pan.strip()
        if not text.isdigit() or not text.isascii():
            raise ValueError(f"card number ending {mask(text)} is not a string of digits")
        pan = int(text)
    if not isinstance(pan, (int, np.integer)):
        raise ValueError(f"a card number is an integer or a string of digits, not {type(pan).__name__}")
    pan = int(pan)
    if not 0 < pan <= MAX_PAN:
        raise ValueError(f"card number ending {mask(pan)} is outside 1..{MAX_PAN} (at most 19 digits)")
    return pan


def _as_uint64(pans: Iterable[int] | np.ndarray | pd.Series) -> np.ndarray:
    if isinstance(pans, pd.Series):
        pans = pans.to_numpy()
    array = np.asarray(pans) if not isinstance(pans, np.ndarray) else pans
    if array.dtype.kind == "i":
        if len(array) and array.min() <= 0:
            raise ValueError("card numbers must be positive")
        return array.astype(np.uint64)
    if array.dtype.kind == "u":
        if len(array) and (array.min() == 0 or array.max() > MAX_PAN):
            raise ValueError(f"card numbers must be in 1..{MAX_PAN} (at most 19 digits)")
        return array.astype(np.uint64, copy=False)
    return np.array([_pan_int(p) for p in array], dtype=np.uint64)


def _collision_message(uniques: np.ndarray, hashed: np.ndarray) -> str:
    order = np.argsort(hashed, kind="stable")
    same = np.flatnonzero(hashed[order][1:] == hashed[order][:-1])
    pairs = [(mask(int(uniques[order[i]])), mask(int(uniques[order[i + 1]]))) for i in same[:3]]
    shown = "; ".join(f"{a} and {b}" for a, b in pairs)
    return (f"column '{CARD_COLUMN}': {len(same):,} pair(s) of different card numbers share one token "
            f"(e.g. cards {shown}); storing them would merge two cards. Rotate the token key "
            f"(see the README, 'Privacy') and re-ingest")
