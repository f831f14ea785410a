"""The /users API through the real app, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from service.config import Settings
from tests.helpers import Client, Conn, base_environ


async def create(client: Client, username: str, email: str | None = None) -> dict[str, Any]:
    response = await client.post(
        "/users", json={"username": username, "email": email or f"{username}@example.com"}
    )
    assert response.status == 201, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def test_create_returns_the_user_with_location(client: Client) -> None:
    response = await client.post("/users", json={"username": "alice", "email": "Alice@Example.org"})
    assert response.status == 201
    body = await response.json()
    assert set(body) == {"id", "username", "email", "created_at", "updated_at"}
    assert body["username"] == "alice"
    assert body["email"] == "Alice@Example.org"  # stored as given
    assert response.headers["Location"] == f"/users/{body['id']}"
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert body["created_at"].endswith("Z")
    assert body["updated_at"] == body["created_at"]


async def test_get_update_patch_delete_round_trip(client: Client) -> None:
    user = await create(client, "bob")
    url = f"/users/{user['id']}"

    got = await client.get(url)
    assert got.status == 200
    assert await got.json() == user

    put = await client.put(url, json={"username": "bobby", "email": "bobby@example.com"})
    assert put.status == 200
    replaced = await put.json()
    assert (replaced["username"], replaced["email"]) == ("bobby", "bobby@example.com")
    assert replaced["created_at"] == user["created_at"]
    assert replaced["updated_at"] > user["updated_at"]

    patch = await client.patch(url, json={"email": "b@example.net"})
    assert patch.status == 200
    patched = await patch.json()
    assert (patched["username"], patched["email"]) == ("bobby", "b@example.net")
    assert patched["updated_at"] > replaced["updated_at"]

    deleted = await client.delete(url)
    assert deleted.status == 204
    assert await deleted.read() == b""
    assert (await client.get(url)).status == 404
    assert (await client.delete(url)).status == 404


async def test_updated_at_moves_on_every_update_even_when_nothing_changes(client: Client) -> None:
    user = await create(client, "carol")
    seen = [user["updated_at"]]
    for _ in range(5):
        response = await client.patch(f"/users/{user['id']}", json={"username": "carol"})
        seen.append((await response.json())["updated_at"])
    assert seen == sorted(seen) and len(set(seen)) == len(seen)


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
async def test_missing_user_is_404(client: Client, method: str) -> None:
    body = {"username": "nobody", "email": "nobody@example.com"}
    response = await client.request(method, "/users/999999", json=body)
    assert response.status == 404
    assert await response.json() == {"error": "user not found"}


@pytest.mark.parametrize(
    "raw_id",
    [
        "0",
        "-1",
        "abc",
        "1.5",
        "9223372036854775808",
        "99999999999999999999999",
        "1e3",
        "%20",
        "%00",
    ],
)
async def test_ids_that_cannot_exist_are_404(client: Client, raw_id: str) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = await client.request(
            method, f"/users/{raw_id}", json={"username": "someone", "email": "s@example.com"}
        )
        assert response.status == 404, (method, raw_id)
        assert "error" in await response.json()


async def test_largest_bigint_id_is_a_plain_404(client: Client) -> None:
    assert (await client.get("/users/9223372036854775807")).status == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com"}, "username"),
        ({"username": "alice"}, "email"),
        ({"username": "al", "email": "a@example.com"}, "username"),
        ({"username": "a" * 51, "email": "a@example.com"}, "username"),
        ({"username": "has space", "email": "a@example.com"}, "username"),
        ({"username": "ali\u00e7e", "email": "a@example.com"}, "username"),
        ({"username": "alice\n", "email": "a@example.com"}, "username"),
        ({"username": 42, "email": "a@example.com"}, "username"),
        ({"username": None, "email": "a@example.com"}, "username"),
        ({"username": "alice", "email": "no-at-sign"}, "email"),
        ({"username": "alice", "email": "a@nodot"}, "email"),
        ({"username": "alice", "email": "a@b@c.org"}, "email"),
        ({"username": "alice", "email": "a @example.com"}, "email"),
        ({"username": "alice", "email": "a@.example.com"}, "email"),
        ({"username": "alice", "email": "a@example..com"}, "email"),
        ({"username": "alice", "email": "x" * 90 + "@example.com"}, "email"),
        ({"username": "alice", "email": "a\u0000b@example.com"}, "email"),
        ({"username": "ali\u0000ce", "email": "a@example.com"}, "username"),
        ({"username": "alice", "email": "a@example.com", "admin": True}, "admin"),
    ],
)
async def test_invalid_fields_are_400_naming_the_field(
    client: Client, db: Conn, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/users", json=body)
    assert response.status == 400
    error = await response.json()
    assert error["field"] == field
    assert isinstance(error["error"], str) and error["error"]
    assert await db.fetchval("SELECT count(*) FROM users") == 0


async def test_email_of_exactly_100_characters_is_accepted(client: Client) -> None:
    email = "x" * 88 + "@example.com"
    assert len(email) == 100
    await create(client, "longmail", email)


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        (b"{not json", 400, "malformed JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (b'"text"', 400, "JSON object"),
        (b"null", 400, "JSON object"),
        (b"", 400, "malformed JSON"),
        (b'{"username": "\xff\xfe", "email": "a@example.com"}', 400, "UTF-8"),
        (b'{"username": "ab\\ud800c", "email": "a@example.com"}', 400, "Unicode"),
        (b"[" * 100_000 + b"]" * 100_000, 413, "too large"),
        (b'{"username": ' + b"1" * 5000 + b"}", 400, "malformed JSON"),
    ],
)
async def test_malformed_bodies_are_4xx_json(
    client: Client, raw: bytes, status: int, fragment: str
) -> None:
    response = await client.post("/users", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == status
    assert fragment in (await response.json())["error"]


async def test_deeply_nested_json_within_the_limit_is_400(client: Client) -> None:
    raw = b"[" * 30_000 + b"]" * 30_000  # 60 KB: under the 64 KiB default limit
    response = await client.post("/users", data=raw, headers={"Content-Type": "application/json"})
    assert response.status == 400
    assert "nested" in (await response.json())["error"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
async def test_wrong_content_type_is_415(client: Client, content_type: str) -> None:
    response = await client.post(
        "/users",
        data=b'{"username": "alice", "email": "a@example.com"}',
        headers={"Content-Type": content_type},
    )
    assert response.status == 415
    assert "error" in await response.json()


async def test_missing_content_type_is_415(client: Client) -> None:
    response = await client.post("/users", data=b'{"username": "alice"}', headers={})
    assert response.status == 415


async def test_body_over_the_limit_is_413_and_just_under_is_accepted(
    make_client: Any, database_url: str, db: Conn
) -> None:
    limited: Client = await make_client(
        Settings.from_env(base_environ(database_url, MAX_BODY_BYTES="1024"))
    )
    prefix = b'{"username": "padded", "email": "p@example.com", "pad": "'
    too_big = prefix + b"x" * (1025 - len(prefix) - 2) + b'"}'
    assert len(too_big) == 1025
    response = await limited.post(
        "/users", data=too_big, headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
    assert "too large" in (await response.json())["error"]

    # Chunked (no Content-Length): the limit still holds.
    async def chunks() -> Any:
        yield too_big

    response = await limited.post(
        "/users", data=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status == 413

    ok = b'{"username": "padded", "email": "p@example.com"}' + b" " * 900
    response = await limited.post("/users", data=ok, headers={"Content-Type": "application/json"})
    assert response.status == 201


async def test_duplicate_username_and_case_insensitive_email_are_409(client: Client) -> None:
    await create(client, "dave", "Dave@Example.com")
    same_name = await client.post("/users", json={"username": "dave", "email": "o@example.com"})
    assert same_name.status == 409
    assert (await same_name.json())["field"] == "username"
    same_mail = await client.post("/users", json={"username": "dave2", "email": "dave@EXAMPLE.com"})
    assert same_mail.status == 409
    assert (await same_mail.json())["field"] == "email"


async def test_update_into_a_taken_name_is_409(client: Client) -> None:
    await create(client, "erin")
    frank = await create(client, "frank")
    put = await client.put(
        f"/users/{frank['id']}", json={"username": "erin", "email": "f@example.com"}
    )
    assert put.status == 409
    patch = await client.patch(f"/users/{frank['id']}", json={"email": "ERIN@example.com"})
    assert patch.status == 409
    assert (await patch.json())["field"] == "email"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, None),
        ({"nickname": "x"}, "nickname"),
        ({"email": None}, "email"),
        ({"username": "x"}, "username"),
    ],
)
async def test_invalid_patch_is_400(
    client: Client, body: dict[str, Any], field: str | None
) -> None:
    user = await create(client, "gina")
    response = await client.patch(f"/users/{user['id']}", json=body)
    assert response.status == 400
    assert (await response.json()).get("field") == field


async def test_put_requires_both_fields(client: Client) -> None:
    user = await create(client, "hank")
    response = await client.put(f"/users/{user['id']}", json={"username": "hank2"})
    assert response.status == 400
    assert (await response.json())["field"] == "email"


async def test_fifty_concurrent_creates_of_one_name_give_one_201(client: Client, db: Conn) -> None:
    responses = await asyncio.gather(
        *[
            client.post("/users", json={"username": "racer", "email": f"racer{i}@example.com"})
            for i in range(50)
        ]
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [201] + [409] * 49
    assert await db.fetchval("SELECT count(*) FROM users") == 1


async def test_concurrent_updates_into_one_email_give_one_winner(client: Client, db: Conn) -> None:
    users = [await create(client, f"user{i}") for i in range(20)]
    put_or_patch = [
        client.put(f"/users/{u['id']}", json={"username": u["username"], "email": "x@example.com"})
        if i % 2
        else client.patch(f"/users/{u['id']}", json={"email": "X@example.com"})
        for i, u in enumerate(users)
    ]
    statuses = sorted(r.status for r in await asyncio.gather(*put_or_patch))
    assert statuses == [200] + [409] * 19
    count = await db.fetchval("SELECT count(*) FROM users WHERE lower(email) = 'x@example.com'")
    assert count == 1


async def test_list_is_newest_first_with_keyset_pages(client: Client) -> None:
    empty = await client.get("/users")
    assert await empty.json() == {"users": [], "count": 0, "next_cursor": None}
    created = [await create(client, f"page{i:02d}") for i in range(7)]
    first = await (await client.get("/users", params={"limit": "3"})).json()
    assert first["count"] == 3
    assert [u["username"] for u in first["users"]] == ["page06", "page05", "page04"]
    names: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/users", params=params)).json()
        names += [u["username"] for u in page["users"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert names == [u["username"] for u in reversed(created)]


async def test_default_page_is_50_and_limit_is_bounded(client: Client, db: Conn) -> None:
    await db.execute(
        "INSERT INTO users (username, email) SELECT 'bulk' || i, 'bulk' || i || '@example.com' "
        "FROM generate_series(1, 120) AS i"
    )
    page = await (await client.get("/users")).json()
    assert page["count"] == 50 and page["next_cursor"] is not None
    most = await (await client.get("/users", params={"limit": "500"})).json()
    assert most["count"] == 120 and most["next_cursor"] is None


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("limit=1&limit=2", "limit"),
        ("cursor=", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
        ("cursor=!!!", "cursor"),
        ("cursor=" + "A" * 100, "cursor"),
        ("cursor=djEuOTk5OTk5OTk5OTk5OTk5OTk5OS4x", "cursor"),
        ("offset=10", "offset"),
        ("cursor=%C3%A9", "cursor"),
    ],
)
async def test_bad_list_parameters_are_400(client: Client, query: str, field: str) -> None:
    response = await client.get(f"/users?{query}")
    assert response.status == 400
    assert (await response.json())["field"] == field


async def test_walk_under_concurrent_inserts_neither_repeats_nor_skips(
    client: Client, db: Conn
) -> None:
    await db.execute(
        "INSERT INTO users (username, email) SELECT 'walk' || i, 'walk' || i || '@example.com' "
        "FROM generate_series(1, 300) AS i"
    )
    existing = {r["id"] for r in await db.fetch("SELECT id FROM users")}
    stop = asyncio.Event()

    async def insert_while_walking() -> int:
        inserted = 0
        while not stop.is_set():
            await create(client, f"new{inserted}")
            inserted += 1
        return inserted

    writer = asyncio.create_task(insert_while_walking())
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"limit": "7", **({"cursor": cursor} if cursor else {})}
        page = await (await client.get("/users", params=params)).json()
        seen += [u["id"] for u in page["users"]]
        cursor = page["next_cursor"]
        await asyncio.sleep(0)
        if cursor is None:
            break
    stop.set()
    inserted = await writer
    assert inserted > 0
    assert len(seen) == len(set(seen)), "a user was returned twice"
    assert existing <= set(seen), "a user that existed before the walk was skipped"


async def test_unknown_route_and_wrong_method_are_json(client: Client) -> None:
    missing = await client.get("/nope")
    assert missing.status == 404
    assert "error" in await missing.json()
    wrong = await client.request("PATCH", "/users")
    assert wrong.status == 405
    assert "POST" in wrong.headers["Allow"]
    assert "error" in await wrong.json()
