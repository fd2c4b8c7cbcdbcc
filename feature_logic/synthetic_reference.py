"""Small embedded reference tables for the synthetic generator: cities with real coordinates,
names, per-category spending habits and the daily rhythm of card use."""

from __future__ import annotations

import numpy as np

from feature_logic.schema import CATEGORIES

EARTH_RADIUS_KM = 6371.0088

#: (city, ISO 3166 country code, latitude, longitude, standard UTC offset in hours)
CITIES: tuple[tuple[str, str, float, float, float], ...] = (
    ("New York", "US", 40.7128, -74.0060, -5.0),
    ("Los Angeles", "US", 34.0522, -118.2437, -8.0),
    ("Chicago", "US", 41.8781, -87.6298, -6.0),
    ("Houston", "US", 29.7604, -95.3698, -6.0),
    ("Phoenix", "US", 33.4484, -112.0740, -7.0),
    ("Toronto", "CA", 43.6532, -79.3832, -5.0),
    ("Vancouver", "CA", 49.2827, -123.1207, -8.0),
    ("Mexico City", "MX", 19.4326, -99.1332, -6.0),
    ("Bogotá", "CO", 4.7110, -74.0721, -5.0),
    ("Lima", "PE", -12.0464, -77.0428, -5.0),
    ("São Paulo", "BR", -23.5505, -46.6333, -3.0),
    ("Rio de Janeiro", "BR", -22.9068, -43.1729, -3.0),
    ("Buenos Aires", "AR", -34.6037, -58.3816, -3.0),
    ("London", "GB", 51.5074, -0.1278, 0.0),
    ("Manchester", "GB", 53.4808, -2.2426, 0.0),
    ("Paris", "FR", 48.8566, 2.3522, 1.0),
    ("Berlin", "DE", 52.5200, 13.4050, 1.0),
    ("Munich", "DE", 48.1351, 11.5820, 1.0),
    ("Madrid", "ES", 40.4168, -3.7038, 1.0),
    ("Barcelona", "ES", 41.3874, 2.1686, 1.0),
    ("Rome", "IT", 41.9028, 12.4964, 1.0),
    ("Milan", "IT", 45.4642, 9.1900, 1.0),
    ("Amsterdam", "NL", 52.3676, 4.9041, 1.0),
    ("Stockholm", "SE", 59.3293, 18.0686, 1.0),
    ("Warsaw", "PL", 52.2297, 21.0122, 1.0),
    ("Istanbul", "TR", 41.0082, 28.9784, 3.0),
    ("Cairo", "EG", 30.0444, 31.2357, 2.0),
    ("Lagos", "NG", 6.5244, 3.3792, 1.0),
    ("Nairobi", "KE", -1.2921, 36.8219, 3.0),
    ("Johannesburg", "ZA", -26.2041, 28.0473, 2.0),
    ("Dubai", "AE", 25.2048, 55.2708, 4.0),
    ("Mumbai", "IN", 19.0760, 72.8777, 5.5),
    ("Delhi", "IN", 28.7041, 77.1025, 5.5),
    ("Bangkok", "TH", 13.7563, 100.5018, 7.0),
    ("Jakarta", "ID", -6.2088, 106.8456, 7.0),
    ("Singapore", "SG", 1.3521, 103.8198, 8.0),
    ("Hong Kong", "HK", 22.3193, 114.1694, 8.0),
    ("Shanghai", "CN", 31.2304, 121.4737, 8.0),
    ("Beijing", "CN", 39.9042, 116.4074, 8.0),
    ("Seoul", "KR", 37.5665, 126.9780, 9.0),
    ("Tokyo", "JP", 35.6762, 139.6503, 9.0),
    ("Osaka", "JP", 34.6937, 135.5023, 9.0),
    ("Sydney", "AU", -33.8688, 151.2093, 10.0),
    ("Melbourne", "AU", -37.8136, 144.9631, 10.0),
    ("Auckland", "NZ", -36.8485, 174.7633, 12.0),
)

CITY_NAMES = np.array([c[0] for c in CITIES], dtype=object)
CITY_COUNTRIES = np.array([c[1] for c in CITIES], dtype=object)
CITY_LAT = np.array([c[2] for c in CITIES])
CITY_LON = np.array([c[3] for c in CITIES])
CITY_UTC_OFFSET_US = np.array([round(c[4] * 3_600_000_000) for c in CITIES], dtype=np.int64)

FEMALE_NAMES = (
    "Olivia", "Emma", "Sofia", "Amara", "Yuki", "Priya", "Fatima", "Chloe", "Isabella", "Mia",
    "Ana", "Hannah", "Leila", "Mei", "Zanele", "Ingrid", "Lucia", "Aisha", "Nora", "Camille",
)  # fmt: skip
MALE_NAMES = (
    "Liam", "Noah", "Mateo", "Kenji", "Arjun", "Omar", "Lucas", "Ethan", "Hugo", "Jonas",
    "Wei", "Diego", "Kwame", "Ivan", "Tariq", "Luca", "Minho", "Samuel", "Felix", "Rafael",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Garcia", "Müller", "Rossi", "Tanaka", "Kim", "Singh", "Silva", "Okafor", "Dubois",
    "Nowak", "Johansson", "Chen", "Wang", "Kowalski", "Martin", "Brown", "Lopez", "Nguyen",
    "Yilmaz", "Haddad", "Mensah", "Petrov", "Jensen", "Costa", "Sato", "Patel", "Walker",
    "Fischer", "Moreau",
)  # fmt: skip

#: Share of each category (in `CATEGORIES` order) in an average owner's charges.
CATEGORY_SHARE = np.array([0.22, 0.18, 0.08, 0.12, 0.08, 0.04, 0.05, 0.03, 0.08, 0.12])
#: Median charge and log-normal spread per category, in `CATEGORIES` order.
CATEGORY_MEDIAN_AMOUNT = np.array([45.0, 25.0, 35.0, 15.0, 60.0, 150.0, 70.0, 400.0, 100.0, 40.0])
CATEGORY_AMOUNT_SIGMA = np.array([0.6, 0.6, 0.7, 0.7, 0.8, 1.0, 0.8, 0.9, 0.6, 0.9])
CASH_WITHDRAWAL = CATEGORIES.index("Cash Withdrawal")

#: Relative use of a card in each local hour of the day: quiet nights, lunch and evening peaks.
HOUR_WEIGHTS = np.array(
    [0.6, 0.35, 0.2, 0.15, 0.15, 0.3, 0.8, 1.6, 2.6, 3.3, 3.8, 4.4,
     5.2, 5.0, 4.2, 4.0, 4.3, 4.9, 5.5, 5.3, 4.4, 3.2, 2.0, 1.1]
)  # fmt: skip
#: Relative volume per weekday (Monday first); averages to one.
WEEKDAY_FACTORS = np.array([0.92, 0.94, 0.96, 1.0, 1.1, 1.12, 0.96])

#: Categories and their weights for card-testing bursts and for charges by a distant fraudster.
CHAIN_ATTACK_CATEGORIES = np.array([CATEGORIES.index(c) for c in (
    "Other", "Electronics", "Health/Beauty", "Clothing", "Restaurant/Cafeteria")])  # fmt: skip
CHAIN_ATTACK_CATEGORY_WEIGHTS = np.array([0.35, 0.2, 0.15, 0.15, 0.15])
TRAVEL_FRAUD_CATEGORIES = np.array([CATEGORIES.index(c) for c in (
    "Electronics", "Holiday/Travel", "Cash Withdrawal", "Clothing")])  # fmt: skip
TRAVEL_FRAUD_CATEGORY_WEIGHTS = np.array([0.4, 0.25, 0.2, 0.15])


def haversine_km(
    lat1: np.ndarray | float, lon1: np.ndarray | float, lat2: np.ndarray | float, lon2: np.ndarray | float
) -> np.ndarray:
    """Great-circle distance in km between points given in degrees (vectorized)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


#: Distance in km between every pair of cities (row, column in `CITIES` order).
CITY_DISTANCE_KM = haversine_km(CITY_LAT[:, None], CITY_LON[:, None], CITY_LAT[None, :], CITY_LON[None, :])

for _table in (
    CITY_NAMES, CITY_COUNTRIES, CITY_LAT, CITY_LON, CITY_UTC_OFFSET_US, CATEGORY_SHARE,
    CATEGORY_MEDIAN_AMOUNT, CATEGORY_AMOUNT_SIGMA, HOUR_WEIGHTS, WEEKDAY_FACTORS,
    CHAIN_ATTACK_CATEGORIES, CHAIN_ATTACK_CATEGORY_WEIGHTS, TRAVEL_FRAUD_CATEGORIES,
    TRAVEL_FRAUD_CATEGORY_WEIGHTS, CITY_DISTANCE_KM,
):  # reference tables are constants: refuse accidental writes
    _table.setflags(write=False)
