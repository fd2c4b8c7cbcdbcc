"""What one request may cost, over real HTTP: bodies over the limit get a 413 before they are read,
fast, while /health keeps answering; a 422 stays small whatever the input; seeded random and
hostile datetimes, amounts and card numbers never give a 500."""

from __future__ import annotations

import json
import socket
import threading
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
import pytest

from .processes import uvicorn_server

LIMIT = 64_000
MAX_BATCH = 50
GOOD = {"cc_num": 4_444_037_300_542_691, "datetime": "2025-01-25T12:00:00Z", "amount": 42.5, "category": "Grocery",
        "latitude": 48.85, "longitude": 2.35}


@pytest.fixture(scope="module")
def server(home, tmp_path_factory):
    env = home.env(FRAUD_SERVING_MAX_BODY_BYTES=str(LIMIT), FRAUD_SERVING_MAX_BATCH=str(MAX_BATCH))
    with uvicorn_server(env, tmp_path_factory.mktemp("logs") / "limits.log") as url:
        yield url


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server, timeout=30) as client:
        assert client.get("/ready").status_code == 200
        yield client


def _raw_post(url: str, head: bytes, body_chunks, *, read_timeout: float = 10.0) -> tuple[int, bytes, float]:
    """Send `head` then the chunks on a raw socket (stopping when the server answers or closes);
    (status, response bytes, seconds until the status line)."""
    parts = urlsplit(url)
    began = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port), timeout=read_timeout) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        received = b""
        for chunk in body_chunks:
            try:
                received += sock.recv(65_536)
            except BlockingIOError:
                pass
            except ConnectionError:
                break
            if received:
                break
            try:
                sock.sendall(chunk)
            except (BlockingIOError, ConnectionError):
                break
        sock.setblocking(True)
        while b"\r\n" not in received:
            received += sock.recv(65_536)
        elapsed = time.perf_counter() - began
        while b"\r\n\r\n" not in received:
            received += sock.recv(65_536)
        head_part, _, body = received.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head_part.lower().split(b"\r\n")
                          if line.startswith(b"content-length")))
        while len(body) < length:
            body += sock.recv(65_536)
        assert b"connection: close" in head_part.lower()  # the unread rest of the body ends the connection
    return int(received.split(b" ", 2)[1]), head_part + body, elapsed


def _health_latencies(url: str, stop: threading.Event, out: list[float]) -> None:
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            began = time.perf_counter()
            assert client.get("/health").status_code == 200
            out.append(time.perf_counter() - began)
            time.sleep(0.01)


def test_an_oversized_body_gets_a_413_fast_while_health_answers(server):
    stop, latencies = threading.Event(), []
    watcher = threading.Thread(target=_health_latencies, args=(server, stop, latencies))
    watcher.start()
    try:
        time.sleep(0.2)
        declared = 50_000_000
        head = (f"POST /predict/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {declared}\r\n\r\n").encode()
        status, response, elapsed = _raw_post(server, head, (b"x" * 65_536 for _ in range(declared // 65_536)))
        assert status == 413 and elapsed < 1.0, (status, elapsed)
        assert b"FRAUD_SERVING_MAX_BODY_BYTES" in response and len(response) < 2_000

        chunk = b"10000\r\n" + b"[" * 65_536 + b"\r\n"  # chunked, no Content-Length: cut once past the limit
        head = (b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        status, response, elapsed = _raw_post(server, head, (chunk for _ in range(800)))
        assert status == 413 and elapsed < 1.0, (status, elapsed)
        time.sleep(0.2)
    finally:
        stop.set()
        watcher.join()
    assert len(latencies) >= 10 and max(latencies) < 0.5, sorted(latencies)[-3:]


def test_a_body_at_the_limit_is_read_and_the_batch_limit_holds(api):
    too_many = api.post("/predict/batch", json={"transactions": [GOOD] * (MAX_BATCH + 1)})
    assert too_many.status_code == 422 and f"at most {MAX_BATCH} transactions" in too_many.text
    padded = json.dumps({"transactions": [GOOD] * MAX_BATCH}).encode()
    padded += b" " * (LIMIT - len(padded))
    assert api.post("/predict/batch", content=padded, headers={"content-type": "application/json"}).status_code == 200
    over = api.post("/predict/batch", content=padded + b" ", headers={"content-type": "application/json"})
    assert over.status_code == 413


def test_a_422_is_bounded_and_never_echoes_large_inputs(api):
    huge = "Z" * 5_000
    bad = [{**GOOD, "category": huge, "amount": huge, "datetime": huge, ("k" * 1_000): 1} for _ in range(3)]
    response = api.post("/predict/batch", json={"transactions": bad})
    assert response.status_code == 422
    assert len(response.content) < 4_000 and "Z" * 41 not in response.text and "k" * 65 not in response.text
    detail = response.json()["detail"]
    assert len(detail) == 11 and detail[-1]["type"] == "too_many_errors"
    assert {tuple(e["loc"][-1:]) for e in detail[:-1]} >= {("category",), ("amount",), ("datetime",)}
    short = api.post("/predict", json={**GOOD, "amount": "12"}).json()["detail"]
    assert short == [{"loc": ["body", "amount"], "type": "value_error",
                      "msg": "Value error, must be a JSON number, got str",
                      "input": "12"}]


HOSTILE_TIMES = [
    "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59-23:59", "9999-12-31T23:59:59+23:59",
    "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z", "1900-01-01T00:00:00+00:01", "2199-12-31T23:59:59-00:01",
    "2025-02-29T00:00:00Z", "2025-01-01T24:00:00Z", "2025-12-31T23:59:60Z", "2025-01-01T00:00:00+24:00",
    "2025-01-01T00:00:00.1234567890123Z", "2025-01-01", "2025-01-01T00:00:00", "", " ", "Z", "T",
    "２０２５-01-01T00:00:00Z", "2025-01-01T00:00:00\x00Z", "1e9", "-1", "0", 0, -1, 1.5, 10**30, -(10**30), 1e308,
    True, None, [], {}, ["2025-01-01T00:00:00Z"], "9" * 1_000, "2025-01-01T00:00:00Z" * 10,
]
HOSTILE_AMOUNTS = [0, -0.0, 0.0, 5e-324, 1e-320, 0.001, 50_000, 50_000.0, 50_000.000001, 1e308, -1e308, 10**400,
                   -(10**400), "NaN", "1", True, False, None, [], {}, 2**63, 2**64]
HOSTILE_CARDS = [0, 1, -1, 2**63 - 1, 2**63, 2**64, 10**400, "1", "0", "-1", "+1", " 1", "1 ", "1.0", "1e3", "٣",
                 "9" * 19, "9" * 20, "", None, True, 1.0, 1e300, [], {}]


def _random_time(rng) -> str:
    year = int(rng.integers(0, 12_000))
    month, day = int(rng.integers(0, 14)), int(rng.integers(0, 33))
    hour, minute, second = int(rng.integers(0, 26)), int(rng.integers(0, 62)), int(rng.integers(0, 62))
    offset = int(rng.integers(-1_600, 1_600))
    sign = "+" if offset >= 0 else "-"
    return (f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}.{int(rng.integers(0, 10**6)):06d}"
            f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}")


def _random_valid_time(rng) -> str:
    """Any instant from 1890 to 2210 (some just outside the accepted range) at any offset up to ±23:59."""
    import datetime as dt

    offset = dt.timedelta(minutes=int(rng.integers(-1_439, 1_440)))
    at = dt.datetime(1890, 1, 1) + dt.timedelta(microseconds=int(rng.integers(0, 320 * 365 * 86_400 * 10**6)))
    return at.replace(tzinfo=dt.timezone(offset)).isoformat()


def test_fuzzed_datetimes_amounts_and_card_numbers_never_give_a_500(api):
    rng = np.random.default_rng(2025)
    bodies = [{**GOOD, "datetime": value} for value in HOSTILE_TIMES]
    bodies += [{**GOOD, "amount": value} for value in HOSTILE_AMOUNTS]
    bodies += [{**GOOD, "cc_num": value} for value in HOSTILE_CARDS]
    bodies += [{**GOOD, "datetime": _random_time(rng)} for _ in range(300)]
    bodies += [{**GOOD, "datetime": _random_valid_time(rng), "cc_num": int(rng.integers(1, 2**63 - 1))}
               for _ in range(200)]
    bodies += [{**GOOD, "amount": float(rng.choice([-1, 1])) * float(10.0 ** rng.uniform(-330, 310))}
               for _ in range(150)]
    bodies += [{**GOOD, "datetime": _random_time(rng), "amount": float(rng.uniform(-10, 60_000)),
                "cc_num": str(int(rng.integers(0, 2**63 - 1)))} for _ in range(150)]
    statuses = []
    for body in bodies:
        content = json.dumps(body, allow_nan=True)
        response = api.post("/predict", content=content, headers={"content-type": "application/json"})
        assert response.status_code in (200, 422), (body, response.status_code, response.text[:300])
        assert len(response.content) < 4_000
        statuses.append(response.status_code)
    assert statuses.count(200) > 200 and statuses.count(422) > 200
    nested = "[" * 30_000 + "]" * 30_000  # deeper than the JSON parser recurses, under the body limit
    assert api.post("/predict", content=nested, headers={"content-type": "application/json"}).status_code in (400, 422)
    assert api.get("/health").json()["status"] == "ok"
