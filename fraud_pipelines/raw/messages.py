"""Bounded error messages: a file's name, a column, the problem and a few short samples, never
more of a file than those samples (a hostile file must not flood logs, reports or the UI)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

#: The longest message we raise or write (characters).
MAX_MESSAGE = 2_000
#: Samples shown per problem, and the longest text shown of one sample.
MAX_SAMPLES = 3
MAX_SAMPLE_TEXT = 40


def clip(text: Any, limit: int = MAX_SAMPLE_TEXT) -> str:
    """`text` as a string of at most `limit` characters (an ellipsis says it was cut)."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def samples(values: Iterable[Any], limit: int = MAX_SAMPLES) -> str:
    """A few values, each clipped: `['a', 'b', 'c']`."""
    shown = []
    for i, value in enumerate(values):
        if i == limit:
            break
        shown.append(repr(clip(value)) if isinstance(value, str) else clip(repr(value)))
    return "[" + ", ".join(shown) + "]"


def names(values: Iterable[Any], limit: int = 8, width: int = MAX_SAMPLE_TEXT) -> str:
    """Column or file names, clipped, with a count of those left out."""
    items = list(values)
    shown = [repr(clip(v, width)) for v in items[:limit]]
    more = f" and {len(items) - limit:,} more" if len(items) > limit else ""
    return "[" + ", ".join(shown) + "]" + more


def bounded(message: str, limit: int = MAX_MESSAGE) -> str:
    """The message cut to `limit` characters, saying so."""
    if len(message) <= limit:
        return message
    return message[: limit - 40].rstrip() + f"\n… ({len(message) - limit + 40:,} more characters cut)"


def paths(values: Iterable[Any], limit: int = 4) -> str:
    """File paths (whole, unless absurdly long), with a count of those left out."""
    items = list(dict.fromkeys(str(v) for v in values))
    if len(items) == 1:
        return clip(items[0], 300)
    return names(items, limit, width=300)
