"""Request-time features: known distances and durations, and the promise that the scalar
(online) path and the vectorized (batch) path give the same bits."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from feature_logic.on_demand import EARTH_RADIUS_KM, haversine_km, time_delta_seconds


@pytest.mark.parametrize(
    ("points", "expected_km", "tolerance_km"),
    [
        ((48.8566, 2.3522, 48.8566, 2.3522), 0.0, 0.0),  # same place
        ((0.0, 0.0, 1.0, 0.0), EARTH_RADIUS_KM * math.pi / 180, 1e-9),  # one degree of latitude
        ((0.0, 0.0, 0.0, 180.0), EARTH_RADIUS_KM * math.pi, 1e-6),  # antipodes on the equator
        ((90.0, 0.0, -90.0, 0.0), EARTH_RADIUS_KM * math.pi, 1e-6),  # pole to pole
        ((48.8566, 2.3522, 51.5074, -0.1278), 343.56, 0.5),  # Paris - London
        ((40.7128, -74.0060, 34.0522, -118.2437), 3935.7, 2.0),  # New York - Los Angeles
        (
            (10.0, 179.5, 10.0, -179.5),
            EARTH_RADIUS_KM * math.radians(1) * math.cos(math.radians(10)),
            0.01,
        ),  # across the date line
    ],
)
def test_haversine_known_distances(points, expected_km, tolerance_km):
    assert haversine_km(*points) == pytest.approx(expected_km, abs=tolerance_km)


def test_haversine_is_symmetric_and_propagates_nan():
    assert haversine_km(10.0, 20.0, -30.5, 40.25) == haversine_km(-30.5, 40.25, 10.0, 20.0)
    assert math.isnan(haversine_km(float("nan"), 0.0, 1.0, 1.0))
    distances = haversine_km(np.array([0.0, np.nan]), 0.0, 1.0, 0.0)
    assert distances[0] > 0 and np.isnan(distances[1])


def test_haversine_scalars_give_a_python_float_and_arrays_an_array():
    assert type(haversine_km(1, 2, 3, 4)) is float
    result = haversine_km(np.zeros(3), np.zeros(3), np.arange(3.0), 0.0)
    assert isinstance(result, np.ndarray) and result.shape == (3,)
    assert result.tolist() == [haversine_km(0.0, 0.0, float(i), 0.0) for i in range(3)]


def _random_points(seed: int, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    return rng.uniform(-90, 90, n), rng.uniform(-180, 180, n), rng.uniform(-90, 90, n), rng.uniform(-180, 180, n)


def test_haversine_scalar_path_matches_vectorized_bit_for_bit():
    lat1, lon1, lat2, lon2 = _random_points(seed=3, n=2_000)
    batch = haversine_km(lat1, lon1, lat2, lon2)
    online = np.array(
        [haversine_km(float(a), float(b), float(c), float(d)) for a, b, c, d in zip(lat1, lon1, lat2, lon2)]
    )
    assert np.array_equal(batch.view(np.int64), online.view(np.int64))


@pytest.mark.parametrize("offset", [0, 1, 3, 7, 13])
def test_haversine_of_a_row_does_not_depend_on_its_position_in_the_batch(offset):
    lat1, lon1, lat2, lon2 = _random_points(seed=4, n=1_000)
    whole = haversine_km(lat1, lon1, lat2, lon2)
    part = slice(offset, offset + 37)
    piece = haversine_km(lat1[part], lon1[part], lat2[part], lon2[part])
    strided = haversine_km(lat1[::2], lon1[::2], lat2[::2], lon2[::2])
    assert np.array_equal(piece.view(np.int64), whole[part].view(np.int64))
    assert np.array_equal(strided.view(np.int64), whole[::2].view(np.int64))


@pytest.mark.parametrize(
    ("later", "earlier", "seconds"),
    [
        ("2024-01-01 00:00:01", "2024-01-01 00:00:00", 1.0),
        ("2024-01-01 00:00:00.000001", "2024-01-01 00:00:00", 1e-6),
        ("2024-03-01 00:00:00", "2024-02-28 00:00:00", 2 * 86_400.0),  # leap day
        ("2024-01-01 00:00:00", "2024-01-01 00:00:00", 0.0),
        ("2024-01-01 00:00:00", "2024-01-01 00:00:30", -30.0),
    ],
)
def test_time_delta_seconds_known_values(later, earlier, seconds):
    t, t_prev = pd.Timestamp(later, tz="UTC"), pd.Timestamp(earlier, tz="UTC")
    assert time_delta_seconds(t, t_prev) == seconds
    assert time_delta_seconds(t.to_pydatetime(), t_prev.to_pydatetime()) == seconds
    assert time_delta_seconds(pd.Series([t]), pd.Series([t_prev])).tolist() == [seconds]


def test_time_delta_seconds_is_nan_without_a_previous_time():
    now = pd.Timestamp("2024-01-01", tz="UTC")
    assert math.isnan(time_delta_seconds(now, None))
    assert math.isnan(time_delta_seconds(now, pd.NaT))
    result = time_delta_seconds(pd.Series([now, now]), pd.Series([now - pd.Timedelta(seconds=5), pd.NaT]))
    assert result[0] == 5.0 and np.isnan(result[1])


def test_time_delta_seconds_scalar_path_matches_vectorized_bit_for_bit():
    rng = np.random.default_rng(5)
    base = pd.Timestamp("2024-01-01", tz="UTC").value // 1000
    later = base + rng.integers(0, 10**13, 1_000)
    earlier = later - rng.integers(0, 10**12, 1_000)
    as_times = lambda micros: pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC")  # noqa: E731
    batch = time_delta_seconds(as_times(later), as_times(earlier))
    online = np.array([time_delta_seconds(a, b) for a, b in zip(as_times(later), as_times(earlier))])
    assert np.array_equal(batch.view(np.int64), online.view(np.int64))
    numpy_path = time_delta_seconds(later.view("datetime64[us]"), earlier.view("datetime64[us]"))
    assert np.array_equal(batch.view(np.int64), numpy_path.view(np.int64))


def test_time_delta_seconds_refuses_mixing_aware_and_naive_times():
    aware = pd.Series([pd.Timestamp("2024-01-01", tz="UTC")])
    naive = pd.Series([pd.Timestamp("2024-01-01")])
    with pytest.raises(TypeError, match="timezone-aware"):
        time_delta_seconds(aware, naive)
    with pytest.raises(TypeError):
        time_delta_seconds(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc), dt.datetime(2024, 1, 1))
