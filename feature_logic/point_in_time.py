"""Vectorized point-in-time lookups on plain arrays: ordering rows within groups, the previous
row of a group, and as-of joins.

They return row positions rather than values, so callers gather any column (numbers or
strings) without copying whole tables; orderings are total, so results never depend on how
the input happened to be sorted or split into batches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from feature_logic.inputs import FeatureInputError

_SAMPLE_SIZE = 5


def group_time_order(keys: np.ndarray, times: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """The permutation sorting rows by (key, time, tiebreak); (time, tiebreak) must be unique per key.

    Two unstable int64 argsorts on packed keys instead of a three-key lexsort (about 3x faster),
    and no time sort at all when rows already come sorted by (time, tiebreak).
    """
    n = len(keys)
    if sorted_by_time(times, tiebreak):
        time_rank = np.arange(n, dtype=np.int64)
    else:
        time_rank = np.empty(n, dtype=np.int64)
        time_rank[np.lexsort((tiebreak, times))] = np.arange(n)
    key_order = np.argsort(keys)
    group_sorted = np.zeros(n, dtype=np.int64)
    if n:
        sorted_keys = keys[key_order]
        np.cumsum(sorted_keys[1:] != sorted_keys[:-1], out=group_sorted[1:])
    group = np.empty(n, dtype=np.int64)
    group[key_order] = group_sorted
    return np.argsort(group * n + time_rank)  # packed keys are unique: any sort is stable


def sorted_by_time(times: np.ndarray, tiebreak: np.ndarray) -> bool:
    """Whether rows are in strictly increasing (time, tiebreak) order."""
    if len(times) < 2:
        return True
    later = times[1:] > times[:-1]
    if later.all():
        return True
    return bool((later | ((times[1:] == times[:-1]) & (tiebreak[1:] > tiebreak[:-1]))).all())


def previous_positions(keys: np.ndarray, order: np.ndarray) -> np.ndarray:
    """For each row, the position of the row just before it among rows with the same key in
    `order` (from `group_time_order`); -1 for a key's first row."""
    previous_sorted = np.full(len(order), -1, dtype=np.int64)
    if len(order) > 1:
        sorted_keys = keys[order]
        same_key = sorted_keys[1:] == sorted_keys[:-1]
        previous_sorted[1:] = np.where(same_key, order[:-1], -1)
    previous = np.empty_like(previous_sorted)
    previous[order] = previous_sorted
    return previous


@dataclass(frozen=True, eq=False)
class SortedVersions:
    """A right table's (key, time) rows grouped by key once, for as-of lookups of many batches: each
    lookup is then one binary search per distinct left key, with no sort of the table."""

    name: str
    order: np.ndarray  # positions in the table, sorted by key
    times: np.ndarray  # the times in that order
    keys: np.ndarray  # the distinct keys, ascending
    starts: np.ndarray  # each distinct key's first position in `order`
    counts: np.ndarray  # and its number of rows

    @classmethod
    def of(cls, keys: np.ndarray, times: np.ndarray, name: str) -> SortedVersions:
        """Group `keys`/`times` (one row per key and time: a tie is refused when a lookup meets it)."""
        order = _key_order(keys)
        sorted_keys = keys[order]
        starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])) if len(keys) else order
        counts = np.diff(np.append(starts, len(keys)))
        return cls(name, order, times[order], sorted_keys[starts], starts, counts)


def asof_positions(
    left_keys: np.ndarray,
    left_times: np.ndarray,
    rights: list[tuple[np.ndarray, np.ndarray, str] | tuple[np.ndarray, np.ndarray, str, np.ndarray] | SortedVersions],
    left_order: np.ndarray | None = None,
) -> list[np.ndarray]:
    """For each right table (keys, times, name[, primary keys]) and each left row, the position
    of the right row with the same key and the latest time <= the left row's time; -1 when
    there is none.

    The project's one point-in-time rule, as the feature store's ASOF join applies it: a right
    row whose time equals the left time applies (it became true at that instant), and of two
    right rows with the same key and time the greater primary key wins. Without primary keys
    the key and time are the right table's primary key, so such a tie is a duplicate row:
    FeatureInputError. A right table looked up batch after batch can be given grouped once
    (`SortedVersions`, no primary keys). `left_order`, a permutation sorting the left keys, saves a sort.
    """
    if left_order is None:
        left_order = np.argsort(left_keys)
    queries = left_keys[left_order]
    query_times = left_times[left_order]
    results = []
    for right in rights:
        if isinstance(right, SortedVersions):
            best = _latest_in_versions(queries, query_times, right)
        else:
            right_keys, right_times, right_name, *primary_key = right
            tiebreak = primary_key[0] if primary_key else None
            best = _latest_at_or_before(queries, query_times, right_keys, right_times, right_name, tiebreak)
        positions = np.empty(len(left_keys), dtype=np.int64)
        positions[left_order] = best
        results.append(positions)
    return results


def _latest_at_or_before(
    queries: np.ndarray, query_times: np.ndarray, right_keys: np.ndarray, right_times: np.ndarray, right_name: str,
    tiebreak: np.ndarray | None = None,
) -> np.ndarray:
    """asof_positions for one right table, with the queries sorted by key."""
    if tiebreak is not None and len(right_keys):
        # Sorted by (key, time, primary key), the last of tied rows is the greatest primary key:
        # keep only it, and the rows left never tie.
        order = np.lexsort((tiebreak, right_times, right_keys))
        keys, times = right_keys[order], right_times[order]
        last_of_tie = np.ones(len(order), dtype=bool)
        last_of_tie[:-1] = (keys[1:] != keys[:-1]) | (times[1:] != times[:-1])
        kept = order[last_of_tie]
        best = _latest_at_or_before(queries, query_times, right_keys[kept], right_times[kept], right_name)
        return np.where(best >= 0, kept[np.maximum(best, 0)], -1)
    return _latest_in_versions(queries, query_times, SortedVersions.of(right_keys, right_times, right_name))


def _latest_in_versions(queries: np.ndarray, query_times: np.ndarray, versions: SortedVersions) -> np.ndarray:
    """asof_positions for one grouped right table, with the queries sorted by key."""
    if len(versions.order) == 0:
        return np.full(len(queries), -1, dtype=np.int64)
    # One binary search per distinct key (queries are sorted), spread back over its queries.
    query_starts = np.flatnonzero(np.concatenate([[True], queries[1:] != queries[:-1]])) if len(queries) else queries
    repeats = np.diff(np.append(query_starts, len(queries)))
    group = np.minimum(np.searchsorted(versions.keys, queries[query_starts], side="left"), len(versions.keys) - 1)
    found = versions.keys[group] == queries[query_starts]
    first = np.repeat(versions.starts[group], repeats)
    counts = np.repeat(np.where(found, versions.counts[group], 0), repeats)
    sorted_right_times = versions.times

    # Step 0, every key's first version, needs no scatter; step k > 0 then looks at the k-th
    # version of the keys that have more than k.
    first_time = sorted_right_times[first]
    applies = (counts > 0) & (first_time <= query_times)
    best = np.where(applies, first, -1)
    best_time = np.where(applies, first_time, np.iinfo(np.int64).min)
    tied = np.zeros(len(queries), dtype=bool)
    active = np.flatnonzero(counts > 1)
    step = 1
    while len(active):
        candidate = first[active] + step
        candidate_time = sorted_right_times[candidate]
        applies = candidate_time <= query_times[active]
        better = applies & (candidate_time > best_time[active])
        tied[active[applies & (candidate_time == best_time[active])]] = True
        tied[active[better]] = False
        best[active[better]] = candidate[better]
        best_time[active[better]] = candidate_time[better]
        step += 1
        active = active[counts[active] > step]
    if tied.any():
        _refuse_ambiguous(queries[tied], best_time[tied], versions.name)
    return np.where(best >= 0, versions.order[np.maximum(best, 0)], -1)


def run_stops(sorted_keys: np.ndarray) -> np.ndarray:
    """For each position of sorted keys, one past the last position holding the same key."""
    if len(sorted_keys) == 0:
        return np.zeros(0, dtype=np.int64)
    boundary = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
    stops = np.append(boundary, len(sorted_keys))
    return np.repeat(stops, np.diff(np.concatenate([[0], stops])))


def _key_order(keys: np.ndarray) -> np.ndarray:
    """argsort of `keys`, skipped when they are already sorted (e.g. a history kept in key order)."""
    if len(keys) < 2 or bool((keys[1:] >= keys[:-1]).all()):
        return np.arange(len(keys))
    return np.argsort(keys)


def _refuse_ambiguous(keys: np.ndarray, times: np.ndarray, right_name: str) -> None:
    sample = sorted(set(zip(keys.tolist(), times.view("datetime64[us]").astype(str).tolist())))
    raise FeatureInputError(
        f"{right_name}: several versions share a key and event_time, so which one applies is "
        f"ambiguous; e.g. {sample[:_SAMPLE_SIZE]}"
    )
