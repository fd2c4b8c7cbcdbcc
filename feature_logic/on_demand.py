"""Request-time features shared by the batch pipeline and the online REST service.

Both paths call these very functions, so a feature computed at training time and the same
feature computed for a live request agree bit for bit (no training/serving skew). The batch
path calls `haversine_km(previous_lat, previous_lon, lat, lon)` and
`time_delta_seconds(t, previous_t)`; the online path passes the card's last stored charge the
same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

#: Earth radius of the sphere the great-circle distances are measured on (the usual 6371 km).
EARTH_RADIUS_KM = 6371.0

_ONE_MICROSECOND = dt.timedelta(microseconds=1)
_MICROSECONDS_PER_SECOND = 1_000_000.0


def haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> np.ndarray | float:
    """Great-circle distance in km between (lat1, lon1) and (lat2, lon2), given in degrees.

    Vectorized over arrays (broadcasting like numpy); four scalars give a Python float. NaN in,
    NaN out. Scalars go through the same numpy kernels as arrays, so both agree bit for bit.
    """
    phi1 = np.radians(np.asarray(lat1, dtype=np.float64))
    phi2 = np.radians(np.asarray(lat2, dtype=np.float64))
    half_dphi = np.radians(np.subtract(lat2, lat1, dtype=np.float64)) * 0.5
    half_dlambda = np.radians(np.subtract(lon2, lon1, dtype=np.float64)) * 0.5
    sin_dphi = np.sin(half_dphi)
    sin_dlambda = np.sin(half_dlambda)
    a = sin_dphi * sin_dphi + np.cos(phi1) * np.cos(phi2) * (sin_dlambda * sin_dlambda)
    distance = (2.0 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    if distance.ndim == 0:
        return float(distance)
    return distance


def time_delta_seconds(t: Any, t_prev: Any) -> np.ndarray | float:
    """Seconds from `t_prev` to `t` as float64 (whole microseconds / 1e6); NaN where either is missing.

    Two scalars (datetime, pd.Timestamp, None, NaT) give a Python float; arrays, Series or
    DatetimeIndexes give an ndarray. Both sides must be timezone-aware, or both naive.
    """
    if isinstance(t, _SCALAR_TIMES) and isinstance(t_prev, _SCALAR_TIMES):
        if t is None or t_prev is None or t is pd.NaT or t_prev is pd.NaT:
            return float("nan")
        return ((t - t_prev) // _ONE_MICROSECOND) / _MICROSECONDS_PER_SECOND
    t_us, t_missing, t_aware = _epoch_microseconds(t, "t")
    prev_us, prev_missing, prev_aware = _epoch_microseconds(t_prev, "t_prev")
    if t_aware != prev_aware:
        raise TypeError("time_delta_seconds: t and t_prev must both be timezone-aware or both naive")
    seconds = (t_us - prev_us).astype(np.float64) / _MICROSECONDS_PER_SECOND
    missing = np.broadcast_to(t_missing | prev_missing, seconds.shape)
    if missing.any():
        seconds[missing] = np.nan
    return seconds


_SCALAR_TIMES = (dt.datetime, type(None))  # pd.Timestamp and pd.NaT are datetime instances


def _epoch_microseconds(values: Any, name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """Microseconds since the epoch (UTC when aware), the missing mask and the awareness of `values`."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "M":
        as_us, aware = values.astype("datetime64[us]"), False
    else:
        try:
            index = pd.DatetimeIndex(np.atleast_1d(values) if np.ndim(values) == 0 else values)
        except (TypeError, ValueError) as error:
            raise TypeError(f"time_delta_seconds: {name} is not a timestamp or timestamps: {error}") from None
        as_us, aware = index.as_unit("us").to_numpy(dtype="datetime64[us]"), index.tz is not None
    return as_us.view(np.int64), np.isnat(as_us), aware
