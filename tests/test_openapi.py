"""/openapi.json tells the truth: real responses, for every operation, match it."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator

from service.app import create_app
from service.config import Settings
from service.openapi import served_document
from tests.helpers import READ_AUTH, WRITE_AUTH, Client, base_environ

# What /openapi.json serves: openapi.json with the user resource's schemas filled in.
SPEC: dict[str, Any] = json.loads(served_document())


def _operation_for(method: str, path: str) -> tuple[str, dict[str, Any]]:
    for template, item in SPEC["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return template, item[method.lower()]
    raise AssertionError(f"{method} {path} is not documented")


async def check(response: ClientResponse, seen: set[tuple[str, str, str]]) -> None:
    """Asserts the response is documented for its operation and its body fits the schema."""
    template, operation = _operation_for(response.method, response.url.path)
    status = str(response.status)
    documented = operation["responses"]
    assert status in documented, f"{response.method} {template} answered undocumented {status}"
    seen.add((template, response.method.lower(), status))
    content = documented[status].get("content")
    if content is None:
        assert await response.read() == b""
        return
    media_type = response.content_type
    assert media_type in content, f"{template} {status}: {media_type} not in {list(content)}"
    if media_type != "application/json":
        return
    schema = {**content[media_type]["schema"], "components": SPEC["components"]}
    Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(
        await response.json()
    )
    for header, spec in documented[status].get("headers", {}).items():
        assert header in response.headers, f"{template} {status}: missing header {header}"
        Draft202012Validator(spec["schema"]).validate(response.headers[header])


def test_document_is_valid_openapi_3_1_shape() -> None:
    assert SPEC["openapi"].startswith("3.1.")
    for schema in SPEC["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    ids = [
        op["operationId"]
        for item in SPEC["paths"].values()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    ]
    assert len(ids) == len(set(ids))


async def test_served_document_is_the_built_one(client: Client) -> None:
    response = await client.get("/openapi.json")
    assert response.status == 200
    assert await response.json() == SPEC


async def test_real_responses_match_the_document(client: Client) -> None:
    seen: set[tuple[str, str, str]] = set()
    json_headers = {"Content-Type": "application/json"}

    async def call(method: str, path: str, **kwargs: Any) -> ClientResponse:
        response = await client.request(method, path, **kwargs)
        await check(response, seen)
        return response

    created = await call("POST", "/users", json={"username": "spec", "email": "spec@example.com"})
    user_id = (await created.json())["id"]
    await call("POST", "/users", json={"username": "spec", "email": "other@example.com"})
    await call("POST", "/users", json={"username": "x"})
    await call("POST", "/users", data=b"plain", headers={"Content-Type": "text/plain"})
    await call("POST", "/users", data=b"{" + b" " * 70_000 + b"}", headers=json_headers)
    await call("POST", "/users", json={"username": "spec2", "email": "spec2@example.com"})
    await call("GET", "/users", params={"limit": "1"})
    await call("GET", "/users", params={"limit": "0"})
    await call("GET", f"/users/{user_id}")
    await call("GET", "/users/424242")
    await call("PUT", f"/users/{user_id}", json={"username": "spec3", "email": "s3@example.com"})
    await call("PUT", f"/users/{user_id}", json={"username": "spec2", "email": "s3@example.com"})
    await call("PUT", f"/users/{user_id}", json={"username": "spec3"})
    await call("PUT", "/users/424242", json={"username": "spec4", "email": "s4@example.com"})
    await call("PUT", f"/users/{user_id}", data=b"x", headers={"Content-Type": "text/plain"})
    await call("PUT", f"/users/{user_id}", data=b"{" + b" " * 70_000 + b"}", headers=json_headers)
    await call("PATCH", f"/users/{user_id}", json={"email": "p@example.com"})
    await call("PATCH", f"/users/{user_id}", json={"username": "spec2"})
    await call("PATCH", f"/users/{user_id}", json={})
    await call("PATCH", "/users/424242", json={"email": "p2@example.com"})
    await call("PATCH", f"/users/{user_id}", data=b"x", headers={"Content-Type": "text/plain"})
    await call("PATCH", f"/users/{user_id}", data=b"{" + b" " * 70_000 + b"}", headers=json_headers)
    await call("DELETE", f"/users/{user_id}")
    await call("DELETE", f"/users/{user_id}")
    no_key = {"Authorization": "Bearer not-a-configured-key-000000"}
    for method, path in [
        ("GET", "/users"),
        ("POST", "/users"),
        ("GET", "/users/1"),
        ("PUT", "/users/1"),
        ("PATCH", "/users/1"),
        ("DELETE", "/users/1"),
    ]:
        await call(
            method, path, json={"username": "nokey", "email": "n@example.com"}, headers=no_key
        )
        if method != "GET":
            await call(
                method, path, json={"username": "ro", "email": "ro@example.com"}, headers=READ_AUTH
            )
    for path in ("/health", "/healthz", "/readyz", "/metrics", "/openapi.json"):
        await call("GET", path)

    documented = {
        (template, method, status)
        for template, item in SPEC["paths"].items()
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
        for status in op["responses"]
    }
    # Outage answers are exercised against a stopped database in tests/test_outage.py.
    unexercised = {d for d in documented - seen if d[2] != "503"}
    assert unexercised == set()


async def test_unavailable_database_answers_match_the_document() -> None:
    # A port nothing listens on: the pool never connects, so the API answers 503 at once.
    settings = Settings.from_env(base_environ("postgresql://u:p@127.0.0.1:9/none"))
    seen: set[tuple[str, str, str]] = set()
    # Valid bodies: a write is refused for the database, not for its input.
    body = {"username": "outage", "email": "outage@example.com"}
    async with TestClient(TestServer(create_app(settings))) as unavailable:
        for method, path, json_body in [
            ("GET", "/users", None),
            ("POST", "/users", body),
            ("GET", "/users/1", None),
            ("PUT", "/users/1", body),
            ("PATCH", "/users/1", {"email": body["email"]}),
            ("DELETE", "/users/1", None),
            ("GET", "/readyz", None),
            ("GET", "/health", None),
        ]:
            response = await unavailable.request(method, path, json=json_body, headers=WRITE_AUTH)
            assert response.status == 503, (method, path, await response.text())
            await check(response, seen)

    # Every operation that needs the database documents its 503, and each one was checked.
    needs_database = {
        (template, method)
        for template, item in SPEC["paths"].items()
        if template.startswith("/users") or template in ("/readyz", "/health")
        for method, op in item.items()
        if isinstance(op, dict) and "responses" in op
    }
    assert {(template, method, "503") for template, method in needs_database} == seen
    # The README's promise: an API call refused for the database says when to retry.
    for template, method in needs_database:
        if template.startswith("/users"):
            headers = SPEC["paths"][template][method]["responses"]["503"].get("headers", {})
            assert "Retry-After" in headers, f"{method} {template}: 503 without Retry-After"
