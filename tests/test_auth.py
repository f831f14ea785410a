"""API keys: 401 without a known key, 403 for a read key on a write route, probes open."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp import ClientSession

from service.api_keys import digest, parse_api_keys
from service.app import create_app
from service.config import ConfigError, Settings
from service.processes import free_port
from tests.exposition import series
from tests.helpers import READ_AUTH, READ_KEY, WRITE_AUTH, WRITE_KEY, Client, base_environ
from tests.procs import ServiceGroup, clean_environ, http_get, run_cli

USER = {"username": "keyed", "email": "keyed@example.com"}
WRITE_ROUTES = [
    ("POST", "/users"),
    ("PUT", "/users/1"),
    ("PATCH", "/users/1"),
    ("DELETE", "/users/1"),
]
ALL_ROUTES = [("GET", "/users"), ("GET", "/users/1"), *WRITE_ROUTES]


@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "missing"),
        ("", "malformed"),
        ("Bearer", "malformed"),
        ("Basic dXNlcjpwYXNz", "malformed"),
        (f"Token {WRITE_KEY}", "malformed"),
        ("Bearer not-a-configured-key-000000", "unknown_key"),
        (f"Bearer {WRITE_KEY}x", "unknown_key"),
    ],
)
async def test_requests_without_a_known_key_are_401(
    client: Client, authorization: str | None, reason: str
) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    # A session of its own: the fixture's client sends the write key by default.
    async with ClientSession() as anonymous:
        for method, path in ALL_ROUTES:
            async with anonymous.request(
                method, client.make_url(path), json=USER, headers=headers
            ) as response:
                assert response.status == 401, (method, path)
                assert response.headers["WWW-Authenticate"] == 'Bearer realm="user-service"'
                assert "error" in await response.json()
    text = await (await client.get("/metrics")).text()
    assert series(text, "user_service_auth_failures_total") == {
        frozenset({("reason", reason)}): float(len(ALL_ROUTES))
    }


async def test_a_read_key_reads_but_cannot_write(client: Client) -> None:
    created = await client.post("/users", json=USER)
    user_id = (await created.json())["id"]
    assert (await client.get("/users", headers=READ_AUTH)).status == 200
    assert (await client.get(f"/users/{user_id}", headers=READ_AUTH)).status == 200
    for method, path in WRITE_ROUTES:
        response = await client.request(
            method, path.replace("/1", f"/{user_id}"), json=USER, headers=READ_AUTH
        )
        assert response.status == 403, method
        assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]
        assert "test-reader" in (await response.json())["error"]
    assert (await client.get(f"/users/{user_id}", headers=READ_AUTH)).status == 200


async def test_probes_metrics_and_the_document_stay_open(client: Client) -> None:
    for path in ("/healthz", "/readyz", "/health", "/metrics", "/openapi.json"):
        async with ClientSession() as anonymous, anonymous.get(client.make_url(path)) as response:
            assert response.status == 200, path


async def test_several_keys_work_at_once_for_rotation(
    make_client: Any, database_url: str, db: Any
) -> None:
    new_key = "rotated-key-abcdefghijklmnopqrstuvwxyz"
    hashed = f"new:write:sha256:{digest(new_key).hex()}"
    settings = Settings.from_env(
        base_environ(database_url, API_KEYS=f"old:write:{WRITE_KEY},{hashed}")
    )
    client: Client = await make_client(settings)
    for key in (WRITE_KEY, new_key):
        response = await client.post(
            "/users",
            json={"username": f"rot{len(key)}", "email": f"r{len(key)}@example.com"},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status == 201


async def test_auth_failures_are_counted_by_reason(client: Client) -> None:
    await client.get("/users", headers={"Authorization": "Basic abc"})
    await client.get("/users", headers={"Authorization": "Bearer"})
    await client.get("/users", headers={"Authorization": "Bearer unknown-key-000000000000"})
    await client.get("/users", headers={"Authorization": "Bearer unknown-key-000000000000"})
    await client.delete("/users/1", headers=READ_AUTH)
    text = await (await client.get("/metrics")).text()
    assert series(text, "user_service_auth_failures_total") == {
        frozenset({("reason", "malformed")}): 2.0,
        frozenset({("reason", "unknown_key")}): 2.0,
        frozenset({("reason", "insufficient_scope")}): 1.0,
    }


def test_a_real_database_without_keys_refuses_to_start(database_url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": database_url})
    with pytest.raises(ConfigError, match="API_KEYS"):
        create_app(settings)
    result = run_cli(["serve"], clean_environ(DATABASE_URL=database_url), timeout=15)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "API_KEYS" in lines[0] and "AUTH_DISABLED=true" in lines[0] and "new-key" in lines[0]


@pytest.mark.parametrize(
    "api_keys",
    [
        "justakey-0123456789abcdef",
        "n:admin:key-0123456789abcdefghij",
        "n:write:short",
        "bad name:write:key-0123456789abcdefghij",
        "n:write:sha256:xyz",
        "n:write:key-0123456789abcdefghij,n:read:key-0123456789abcdefghik",
    ],
)
def test_malformed_api_keys_stop_the_process_without_echoing_them(
    database_url: str, api_keys: str
) -> None:
    with pytest.raises(ConfigError, match=r"^API_KEYS: ") as raised:
        Settings.from_env({"DATABASE_URL": database_url, "API_KEYS": api_keys})
    assert "0123456789" not in str(raised.value)


def test_the_process_keeps_digests_not_keys() -> None:
    (key,) = parse_api_keys(f"ci:read:{READ_KEY}")
    assert key.digest == digest(READ_KEY)
    assert READ_KEY not in repr(key)
    settings = Settings.from_env({"API_KEYS": f"ci:read:{READ_KEY}"})
    assert READ_KEY not in repr(settings.redacted())
    assert settings.redacted()["api_keys"] == ["ci:read"]


def test_new_key_prints_a_working_entry() -> None:
    result = run_cli(["new-key", "--name", "deploy", "--scope", "read"], clean_environ())
    assert result.returncode == 0
    entries = re.findall(r"^\s+(deploy:read:\S+)$", result.stdout, re.MULTILINE)
    assert len(entries) == 2
    plain, hashed = (parse_api_keys(entry)[0] for entry in entries)
    assert plain.digest == hashed.digest


async def test_a_real_process_logs_key_names_never_keys(
    services: ServiceGroup, database_url: str, db: Any
) -> None:
    service = services.start(
        clean_environ(
            DATABASE_URL=database_url, API_KEYS=base_environ("")["API_KEYS"], AUTH_DISABLED="false"
        )
    )
    service.wait_ready()
    async with ClientSession(service.base_url) as session:
        async with session.post("/users", json=USER, headers=WRITE_AUTH) as response:
            assert response.status == 201
        async with session.get("/users", headers=READ_AUTH) as response:
            assert response.status == 200
        async with session.get("/users", headers={"Authorization": f"Bearer {WRITE_KEY}0"}) as r:
            assert r.status == 401
    access = service.wait_for_log(lambda line: line.get("status") == 401, timeout=5)
    assert access["api_key"] is None
    names = [
        line.get("api_key")
        for line in service.log_lines()
        if line.get("logger") == "service.access"
    ]
    assert names[:2] == ["test-writer", "test-reader"]
    for secret in (WRITE_KEY, READ_KEY):
        assert secret not in service.output()


async def test_metrics_can_have_a_port_of_their_own(
    services: ServiceGroup, database_url: str
) -> None:
    metrics_port = free_port()
    service = services.start(
        clean_environ(DATABASE_URL=database_url, METRICS_PORT=str(metrics_port))
    )
    service.wait_ready()
    assert http_get(service.port, "/metrics")[0] == 404
    status, _, body = http_get(metrics_port, "/metrics")
    assert status == 200
    assert b"user_service_build_info" in body
    assert http_get(metrics_port, "/users")[0] == 404
