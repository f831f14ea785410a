"""Secret hygiene under provocation: requests that go wrong in ways that tend to echo input.

aiohttp rejects a malformed request before any of our code runs, and used to log it at ERROR
with a traceback quoting the offending bytes: a header line with a stray control character, or
too long, put the client's API key into our logs. The service now logs one line naming the error.
"""

from __future__ import annotations

import time

import pytest

from tests.helpers import TEST_API_KEYS
from tests.procs import Service, ServiceGroup, clean_environ, http_get
from tests.security.helpers import (
    CAMPAIGN_KEY,
    DB_PASSWORD,
    SecureDatabase,
    raw_exchange,
    status_of,
)

KEY = CAMPAIGN_KEY.encode()


def _access_lines(service: Service) -> int:
    return sum(1 for line in service.log_lines() if line.get("logger") == "service.access")


def _request(authorization: bytes, path: bytes = b"/users") -> bytes:
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nAuthorization: " + authorization + b"\r\n\r\n"


PROVOCATIONS = {
    "key then a control character": (_request(b"Bearer " + KEY + b"\x01"), 400),
    "key then NUL": (_request(b"Bearer " + KEY + b"\x00"), 400),
    "key then DEL": (_request(b"Bearer " + KEY + b"\x7f"), 400),
    "key then vertical tab": (_request(b"Bearer " + KEY + b" \x0b"), 400),
    "key in an over-long header": (_request(b"Bearer " + KEY + b"a" * 9000), 400),
    "key in an over-long request line": (_request(b"Bearer x", b"/users?k=" + KEY * 300), 400),
    "key in a request line with a control character": (
        _request(b"Bearer x", b"/users?k=" + KEY + b"\x01"),
        400,
    ),
    "key with one character more": (_request(b"Bearer " + KEY + b"x"), 401),
    "key under another scheme": (_request(b"Token " + KEY), 401),
    "key without a scheme": (_request(KEY), 401),
    "key as a query parameter": (_request(b"Bearer x", b"/users?api_key=" + KEY), 401),
}


@pytest.mark.parametrize(("request_bytes", "status"), PROVOCATIONS.values(), ids=PROVOCATIONS)
def test_a_mishandled_key_never_reaches_the_logs(
    secure_service: Service, request_bytes: bytes, status: int
) -> None:
    before, access = secure_service.output(), _access_lines(secure_service)
    response = raw_exchange(secure_service.port, request_bytes)
    assert status_of(response) == status
    # Its access line, at INFO (a client's mistake is not our error), and no key in any line.
    deadline = time.monotonic() + 5
    while _access_lines(secure_service) == access and time.monotonic() < deadline:
        time.sleep(0.02)
    added = secure_service.output()[len(before) :]
    assert f'"status": {status}' in added
    assert CAMPAIGN_KEY not in added
    assert '"level": "ERROR"' not in added
    if status == 401:  # our own answers never echo the key; aiohttp's 400s quote the sender's
        assert KEY not in response  # own bytes back to it, which tells it nothing new


def test_no_secret_in_any_output_after_the_provocations(
    secure_service: Service, secure_database: SecureDatabase
) -> None:
    for path in ("/openapi.json", "/metrics", "/readyz", "/health"):
        body = http_get(secure_service.port, path)[2].decode()
        for secret in (CAMPAIGN_KEY, DB_PASSWORD, secure_database.app_url):
            assert secret not in body, path
    for secret in (CAMPAIGN_KEY, DB_PASSWORD, secure_database.app_url):
        assert secret not in secure_service.output()


def test_an_unreachable_database_is_reported_without_its_password(
    services: ServiceGroup, secure_database: SecureDatabase
) -> None:
    unreachable = secure_database.app_url.replace(
        secure_database.app_url.rsplit("@", 1)[1].split("/")[0], "127.0.0.1:9"
    )
    service = services.start(
        clean_environ(
            DATABASE_URL=unreachable,
            API_KEYS=f"campaign:write:{CAMPAIGN_KEY},{TEST_API_KEYS}",
            AUTH_DISABLED="false",
        )
    )
    service.wait_for_log(lambda line: "retrying" in str(line.get("message")), timeout=10)
    status, _, body = http_get(service.port, "/readyz")
    assert status == 503
    status, _, users = http_get(
        service.port, "/users", headers={"Authorization": f"Bearer {CAMPAIGN_KEY}"}
    )
    assert status == 503
    for secret in (DB_PASSWORD, unreachable, CAMPAIGN_KEY):
        assert secret.encode() not in body + users
        assert secret not in service.output()
