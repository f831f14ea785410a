"""The service's stdout, from a real process: JSON lines, access lines, request ids, no secrets."""

from __future__ import annotations

import re
import secrets
import signal
from dataclasses import dataclass

import aiohttp
import pytest

from tests.helpers import Role
from tests.procs import LogLine, Service, ServiceGroup, clean_environ

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
LEVELS = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}
ACCESS_FIELDS = {
    "method",
    "route",
    "path",
    "status",
    "duration_ms",
    "response_bytes",
    "request_id",
    "remote",
}
PROBES = ("/healthz", "/readyz", "/health", "/metrics")


def check_every_line(service: Service) -> list[LogLine]:
    """Every stdout line is a JSON object with the four standard fields; nothing on stderr."""
    lines = service.log_lines()
    assert lines
    for line in lines:
        assert TIMESTAMP.fullmatch(line["timestamp"]), line
        assert line["level"] in LEVELS, line
        assert isinstance(line["logger"], str) and line["logger"], line
        assert isinstance(line["message"], str) and line["message"], line
    assert service.stderr() == ""
    return lines


def access_lines(lines: list[LogLine]) -> list[LogLine]:
    return [x for x in lines if x["logger"] == "service.access"]


def stop(service: Service) -> None:
    service.send_signal(signal.SIGTERM)
    assert service.wait(10) == 0


@dataclass
class Exchange:
    method: str
    path: str
    sent_id: str | None
    status: int
    echoed_id: str
    body_bytes: int


async def exchange(
    http: aiohttp.ClientSession, method: str, path: str, sent_id: str | None = None, **kw: object
) -> Exchange:
    headers = {} if sent_id is None else {"X-Request-ID": sent_id}
    async with http.request(method, path, headers=headers, **kw) as response:  # type: ignore[arg-type]
        body = await response.read()
        return Exchange(
            method, path, sent_id, response.status, response.headers["X-Request-ID"], len(body)
        )


@pytest.mark.parametrize("form", ["userinfo", "query"])
async def test_every_line_is_json_with_one_access_line_per_request_and_no_secret(
    services: ServiceGroup, role: Role, form: str
) -> None:
    url = (
        role.url()
        if form == "userinfo"
        else f"postgresql://{role.name}@{role.host}:{role.port}/{role.database}"
        f"?password={role.password}"
    )
    service = services.start(clean_environ(DATABASE_URL=url, DRAIN_DELAY_SECONDS="0.2"))
    service.wait_ready()

    async with aiohttp.ClientSession(service.base_url) as http:
        made = await exchange(
            http, "POST", "/users", "create-1", json={"username": "logan", "email": "l@x.org"}
        )
        exchanges = [
            made,
            await exchange(http, "GET", "/users/1"),
            await exchange(http, "GET", "/users/1", "x" * 129),
            await exchange(http, "GET", "/users/1", "bad id;rm"),
            await exchange(http, "GET", "/users/404404", "trace-404:a.b_c-d"),
            await exchange(http, "DELETE", "/users/1", "X" * 128),
        ]
        for probe in PROBES:
            await exchange(http, "GET", probe, f"probe{probe.replace('/', '-')}")
    stop(service)

    assert [e.status for e in exchanges] == [201, 200, 200, 200, 404, 204]
    for e in exchanges:
        if e.sent_id is not None and len(e.sent_id) <= 128 and " " not in e.sent_id:
            assert e.echoed_id == e.sent_id
        else:  # absent, too long or unsafe characters: a fresh id instead
            assert GENERATED_ID.fullmatch(e.echoed_id), e
    assert len({e.echoed_id for e in exchanges}) == len(exchanges)

    lines = check_every_line(service)
    access = access_lines(lines)
    assert len(access) == len(exchanges)  # exactly one per API request, none for the probes
    by_id = {line["request_id"]: line for line in access}
    for e in exchanges:
        line = by_id[e.echoed_id]
        assert set(line) >= ACCESS_FIELDS
        assert (line["method"], line["path"], line["status"]) == (e.method, e.path, e.status)
        assert line["route"] == ("/users" if e.path == "/users" else "/users/{user_id}")
        # The bytes written for the response: status line and headers, then the body.
        assert e.body_bytes < line["response_bytes"] <= e.body_bytes + 512
        assert isinstance(line["duration_ms"], float) and 0 <= line["duration_ms"] < 5000
        assert line["remote"] == "127.0.0.1"
        assert line["level"] == "INFO"

    [starting] = [x for x in lines if x["message"] == "starting"]
    settings = starting["settings"]
    assert settings["port"] == service.port
    assert settings["host"] == "127.0.0.1"
    assert settings["drain_delay"] == 0.2
    assert settings["log_level"] == "INFO"
    assert "***" in settings["database_url"]
    assert role.password not in service.output()
    assert url not in service.output()


async def test_probes_log_at_debug_only(services: ServiceGroup, database_url: str) -> None:
    service = services.start(clean_environ(DATABASE_URL=database_url, LOG_LEVEL="DEBUG"))
    service.wait_ready()  # probes before the test's own: they are logged as well
    async with aiohttp.ClientSession(service.base_url) as http:
        for probe in PROBES:
            assert (await exchange(http, "GET", probe, "p")).status == 200
        assert (await exchange(http, "GET", "/users?limit=1", "api")).status == 200
    stop(service)

    access = access_lines(check_every_line(service))
    probes = [x for x in access if x["request_id"] == "p"]
    assert sorted(x["path"] for x in probes) == sorted(PROBES)
    assert {x["level"] for x in probes} == {"DEBUG"}
    [api] = [x for x in access if x["request_id"] == "api"]
    assert api["level"] == "INFO"
    assert api["path"] == "/users"


async def test_a_wrong_password_is_logged_as_an_error_without_the_password(
    services: ServiceGroup, role: Role
) -> None:
    wrong = f"Wr0ng-{secrets.token_hex(4)}"
    service = services.start(clean_environ(DATABASE_URL=role.url(wrong)))
    retrying = await service.log_event(
        lambda x: x["message"] == "database not reachable, retrying", within=10
    )
    assert retrying["error"].startswith("InvalidPasswordError")

    async with aiohttp.ClientSession(service.base_url) as http:
        async with http.get("/readyz") as ready:
            assert ready.status == 503
            assert (await ready.json())["checks"]["database"].startswith("InvalidPasswordError")
        api = await exchange(http, "GET", "/users", "during-denial")
        assert api.status == 503
    stop(service)

    lines = check_every_line(service)
    # Log lines emitted while handling a request carry its id.
    [unavailable] = [x for x in lines if x["message"] == "database unavailable"]
    assert unavailable["request_id"] == "during-denial"
    for secret in (wrong, role.password, role.url(wrong)):
        assert secret not in service.output()
