"""Reason codes of many rows as JSON texts in an Arrow string array, built column by column:
batch scoring may explain every charge, and a dict and `json.dumps` per row (or even a Python
`repr` per number) cost more than the contributions themselves.

Each text is exactly `reasons.as_text(reasons.top_reasons(...))` of its row (tested byte for byte).
A rounded number (`reasons.rounded`: a multiple of 10^-DIGITS below 10^9 in magnitude) is written
from integers: its signed integer part (a table below 10^DIGITS, Arrow's integer-to-text cast above)
and its decimals (a table of the 10^DIGITS decimal endings), which is what Python's float repr writes
for it (the shortest text that reads back as that float); from 10^9 on numbers are written by repr one
by one. A readable value (a category's name) is written once per distinct value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from fraud_pipelines.governance.reasons import DIGITS, ROUNDED_BELOW, TOP_K, rounded, top_order, value_json

#: Rows written per Arrow array: about 20 MB of text, and working arrays small enough to be reused (at 1M
#: rows a slice the same texts cost 2.3 times the CPU here).
ROWS_PER_ARRAY = 100_000
_SCALE = 10**DIGITS
_MIDDLE = ',"contribution":'
_END = "}]"


def reason_texts(contributions: np.ndarray, matrix: np.ndarray, feature_names: Sequence[str], *,
                 readable: Mapping[str, Sequence[Any]] | None = None, k: int = TOP_K) -> pa.ChunkedArray:
    """Per row, `as_text(top_reasons(...))` of that row, as Arrow strings.

    A text is 1 + 4k pieces: the first feature's head, then per reason the value's sign and integer
    part, its decimals with the middle, the contribution's sign and integer part, and its decimals
    with the next reason's head (or the end). Each piece is an index into one dictionary of piece
    texts; one `take` writes all pieces of all rows in order, so row i's text is bytes
    [offsets[i * P], offsets[(i + 1) * P]) of the result, which become the array's offsets as they are."""
    names = list(feature_names)
    readable = readable or {}
    arrays = []
    for first in range(0, len(matrix), ROWS_PER_ARRAY):
        part = slice(first, first + ROWS_PER_ARRAY)
        arrays.append(_texts(np.asarray(contributions)[part], np.asarray(matrix)[part], names,
                             {name: values[part] for name, values in readable.items()}, k))
    return pa.chunked_array(arrays, pa.string())


def _texts(contributions: np.ndarray, matrix: np.ndarray, names: list[str],
           readable: Mapping[str, Sequence[Any]], k: int) -> pa.StringArray:
    order = top_order(contributions, len(names), k).astype(np.int32)
    count, picked = order.shape
    rows = np.arange(count)[:, None]
    fixed = _fixed_pieces(tuple(names))
    pieces = _Dictionary(fixed.texts)
    value_whole, value_decimals = _number_pieces(matrix[rows, order], pieces, fixed, fixed.middle)
    for j, name in enumerate(names):  # a transformed feature (a category) shows its readable value
        shown = order == j
        if name in readable and shown.any():
            codes, texts = readable_texts(readable[name])
            value_whole = np.where(shown, pieces.add(texts) + codes[:, None], value_whole)
            value_decimals = np.where(shown, fixed.bare + fixed.middle, value_decimals)
    # after the contribution: the next reason's head, or the end
    tails = np.concatenate([fixed.tails + order[:, 1:], np.full((count, 1), fixed.end, dtype=np.int32)], axis=1)
    whole, decimals = _number_pieces(contributions[rows, order], pieces, fixed, tails)
    index = np.empty((count, 1 + 4 * picked), dtype=np.int32)
    index[:, 0] = fixed.heads + order[:, 0]
    index[:, 1::4], index[:, 2::4], index[:, 3::4], index[:, 4::4] = value_whole, value_decimals, whole, decimals
    written = pieces.array().take(pa.array(index.ravel()))
    offsets = np.frombuffer(written.buffers()[1], dtype=np.int32)[written.offset:written.offset + len(written) + 1]
    return pa.StringArray.from_buffers(count, pa.py_buffer(np.ascontiguousarray(offsets[::index.shape[1]])),
                                       written.buffers()[2])


def _number_pieces(values: np.ndarray, pieces: _Dictionary, fixed: _Fixed,
                   after: np.ndarray | int) -> tuple[np.ndarray, np.ndarray]:
    """Each number `rounded` as two pieces, its sign and integer part, then its decimals followed by
    the piece text `after` (an index into the fixed pieces' decimals table, per number or one for all):
    together what JSON writes for that float (its repr); NaN as null; from `ROUNDED_BELOW` on its repr."""
    shown = rounded(values)
    if np.isinf(shown).any():
        raise ValueError("reason values and contributions must be finite to be written as JSON")
    missing = np.isnan(shown)
    large = ~missing & (np.abs(shown) >= ROUNDED_BELOW)
    scaled = np.rint(np.where(missing | large, 0.0, shown) * _SCALE).astype(np.int64)
    negative = scaled < 0
    magnitude = np.abs(scaled)
    whole = magnitude // _SCALE
    whole_index = (fixed.whole + whole + negative * _SCALE).astype(np.int32)
    wide = whole >= _SCALE
    if wide.any():  # integer parts beyond the table: Arrow writes them
        signs = _SIGNS.take(pa.array(negative[wide].view(np.int8)))
        texts = pc.binary_join_element_wise(signs, pc.cast(pa.array(whole[wide]), pa.string()), "")
        whole_index[wide] = pieces.add(texts) + np.arange(len(texts))
    decimals = (after * _SCALE + (magnitude % _SCALE)).astype(np.int32) + fixed.decimals
    special = missing | large
    if special.any():  # null or a repr, then `after` with no decimals
        texts = ["null" if np.isnan(v) else repr(v) for v in shown[special].tolist()]
        whole_index[special] = pieces.add(texts) + np.arange(len(texts))
        decimals[special] = (np.broadcast_to(after, shown.shape)[special]) + fixed.bare
    return whole_index, decimals


class _Dictionary:
    """Piece texts gathered into one Arrow array; `add` returns where its texts start."""

    def __init__(self, fixed: pa.StringArray) -> None:
        self._parts = [fixed]
        self._size = len(fixed)

    def add(self, texts: Sequence[str] | pa.Array) -> int:
        start = self._size
        array = texts if isinstance(texts, pa.Array) else pa.array(texts, pa.string())
        self._parts.append(array)
        self._size += len(array)
        return start

    def array(self) -> pa.StringArray:
        return pa.concat_arrays(self._parts) if len(self._parts) > 1 else self._parts[0]


def readable_texts(shown: Sequence[Any]) -> tuple[np.ndarray, pa.StringArray]:
    """The readable values as codes into their texts (`value_json`, written once per distinct value)."""
    codes, uniques = pd.factorize(pd.Series(shown, dtype=object), use_na_sentinel=True)
    texts = [value_json(u) for u in uniques] + ["null"]  # the last, code -1: None or NaN
    return np.where(codes < 0, len(texts) - 1, codes), pa.array(texts, pa.string())


_SIGNS = pa.array(["", "-"], pa.string())


@dataclass(frozen=True)
class _Fixed:
    """The pieces every text of a model's features is made of, and where each kind starts.

    `whole`: integer parts "0" .. "9999", then "-0" .. "-9999"; `heads`: the first reason's head per
    feature; `decimals`: per follower (`middle`, the next reason's head per feature from `tails`, the
    `end`) a block of the decimal endings repr writes for d * 10^-DIGITS (d=5: ".0005", d=5000: ".5",
    d=0: ".0") each followed by that follower; `bare`: each follower alone."""

    texts: pa.StringArray
    whole: int
    heads: int
    decimals: int
    bare: int
    middle: int = 0  # followers, by number
    tails: int = 1
    end: int = -1


@lru_cache(maxsize=8)
def _fixed_pieces(names: tuple[str, ...]) -> _Fixed:
    endings = [f".{d:0{DIGITS}d}".rstrip("0") if d else ".0" for d in range(_SCALE)]
    followers = [_MIDDLE, *[f'}},{{"feature":{value_json(name)},"value":' for name in names], _END]
    whole = [str(d) for d in range(_SCALE)] + [f"-{d}" for d in range(_SCALE)]
    heads = [f'[{{"feature":{value_json(name)},"value":' for name in names]
    decimals = [ending + follower for follower in followers for ending in endings]
    texts = pa.array(whole + heads + decimals + followers, pa.string())
    return _Fixed(texts, whole=0, heads=len(whole), decimals=len(whole) + len(heads),
                  bare=len(whole) + len(heads) + len(decimals), end=len(followers) - 1)
