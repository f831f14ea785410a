"""Hand-written hostile input against a real service process, on top of the campaign.

After every test: the service still answers, logged no error and answered no 5xx (the autouse
fixture below), and where a test wrote, the database holds exactly what the API answered.
"""

from __future__ import annotations

import base64
import time
import unicodedata
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientSession

from service.config import VARIABLES
from tests.helpers import WRITE_AUTH, WRITE_KEY
from tests.procs import Service, http_get
from tests.security.helpers import (
    SecureDatabase,
    raw_exchange,
    status_of,
    table_intact,
    users_table,
)

MAX_BODY_BYTES = int(next(v.default for v in VARIABLES if v.name == "MAX_BODY_BYTES") or 0)
AUTH_LINE = f"Authorization: Bearer {WRITE_KEY}\r\n".encode()


@pytest.fixture(autouse=True)
def service_stays_healthy(secure_service: Service) -> Iterator[None]:
    """Whatever a test sent: no 5xx, no ERROR line, and the service still answers at once."""
    before = len(secure_service.log_lines())
    yield
    assert http_get(secure_service.port, "/healthz", timeout=2)[0] == 200
    new = secure_service.log_lines()[before:]
    assert [line for line in new if line.get("level") in ("ERROR", "CRITICAL")] == []
    assert [line for line in new if int(line.get("status") or 0) >= 500] == []


@pytest.fixture
async def empty_table(secure_database: SecureDatabase) -> None:
    conn = await asyncpg.connect(secure_database.owner_url)
    try:
        await conn.execute("TRUNCATE users RESTART IDENTITY")
    finally:
        await conn.close()


@pytest.fixture
async def api(secure_service: Service, empty_table: None) -> AsyncIterator[ClientSession]:
    async with ClientSession(secure_service.base_url, headers=WRITE_AUTH) as session:
        yield session


async def create(api: ClientSession, username: str, email: str) -> tuple[int, dict[str, Any]]:
    async with api.post("/users", json={"username": username, "email": email}) as response:
        return response.status, await response.json()


def raw_request(port: int, head: bytes, body: bytes = b"") -> bytes:
    """One request as raw bytes (the write key added): what no well-behaved client would send."""
    request = head.replace(b"\r\n", b"\r\nHost: 127.0.0.1\r\n" + AUTH_LINE, 1) + b"\r\n" + body
    return raw_exchange(port, request)


# -- SQL injection ------------------------------------------------------------------------------

SQL_EMAILS = [
    "x'OR'1'='1@example.com",
    "a;DROP/**/TABLE/**/users;--@x.org",
    "robert');DROP/**/TABLE/**/users;--@x.org",
    "'||(SELECT/**/pg_sleep(3))||'@x.org",
    "1'/**/UNION/**/SELECT/**/usename,passwd/**/FROM/**/pg_shadow--@x.org",
    "\\'\";--@x.org",
    "$$;DROP/**/TABLE/**/users;$$@x.org",
    "%'--@x.org",
    "x@x.org'--",
    "a@b.c;TRUNCATE/**/users",
]


async def test_sql_in_emails_is_stored_and_returned_verbatim(
    api: ClientSession, secure_database: SecureDatabase
) -> None:
    created: dict[int, tuple[str, str]] = {}
    for n, email in enumerate(SQL_EMAILS):
        started = time.monotonic()
        status, user = await create(api, f"inject{n}", email)
        assert time.monotonic() - started < 2, email  # no pg_sleep(3) ran
        assert status == 201, (email, user)
        assert user["email"] == email
        async with api.get(f"/users/{user['id']}") as response:
            assert (await response.json())["email"] == email
        created[user["id"]] = (f"inject{n}", email)
    # Through PATCH as well.
    first = min(created)
    async with api.patch(f"/users/{first}", json={"email": "p'||'@x.org"}) as response:
        assert (await response.json())["email"] == "p'||'@x.org"
    created[first] = (created[first][0], "p'||'@x.org")
    # Nothing was executed: the rows are exactly the payloads, the schema as migrated.
    assert await users_table(secure_database.owner_url) == created
    assert await table_intact(secure_database)


@pytest.mark.parametrize(
    "email",
    ["a;DROP TABLE users;--@x.org", "x' OR '1'='1@example.com", "'; DELETE FROM users; --@x.org"],
)
async def test_sql_with_spaces_is_no_email(
    api: ClientSession, secure_database: SecureDatabase, email: str
) -> None:
    status, body = await create(api, "spaced", email)
    assert (status, body.get("field")) == (400, "email")
    assert await users_table(secure_database.owner_url) == {}
    assert await table_intact(secure_database)


@pytest.mark.parametrize(
    "username",
    ["admin'--", "a' OR '1'='1", "x;DROP TABLE users", "1=1", "' or ''='", "u$1", "a/*b*/"],
)
async def test_sql_in_usernames_is_refused(
    api: ClientSession, secure_database: SecureDatabase, username: str
) -> None:
    status, body = await create(api, username, "u@example.com")
    assert (status, body.get("field")) == (400, "username")
    assert await users_table(secure_database.owner_url) == {}


async def test_sql_shaped_usernames_the_rules_allow_are_stored_verbatim(
    api: ClientSession, secure_database: SecureDatabase
) -> None:
    names = ["---", "a--b", "x.-_", "--.--", "DROP_TABLE_users--", "1.1.1.1", "OR-1-1"]
    for n, name in enumerate(names):
        status, user = await create(api, name, f"n{n}@example.com")
        assert (status, user["username"]) == (201, name)
    assert sorted(u for u, _ in (await users_table(secure_database.owner_url)).values()) == sorted(
        names
    )


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/users/1%20OR%201=1", 404),
        ("/users/1;DELETE%20FROM%20users", 404),
        ("/users/1'--", 404),
        ("/users/(SELECT%201)", 404),
        ("/users?limit=1;DROP%20TABLE%20users", 400),
        ("/users?limit=1%20OR%201=1", 400),
        ("/users?cursor='%20OR%201=1--", 400),
        ("/users?1=1--=x", 400),
    ],
)
async def test_sql_in_paths_and_queries_is_a_404_or_400(
    api: ClientSession, secure_database: SecureDatabase, path: str, status: int
) -> None:
    await create(api, "survivor", "survivor@example.com")
    for method in ("GET", "DELETE", "PATCH"):
        async with api.request(method, path, json={"email": "e@x.org"}) as r:
            expected = status if method == "GET" or path.startswith("/users/") else 405
            assert r.status == expected, (method, path, await r.text())
    assert list((await users_table(secure_database.owner_url)).values()) == [
        ("survivor", "survivor@example.com")
    ]


# -- Unicode ------------------------------------------------------------------------------------

UNICODE_EMAILS = {
    "NFC": "\u00e9cole@example.com",
    "NFD": "e\u0301cole@example.com",
    "combining marks": "z\u0351\u0352\u0353\u0354\u0355a\u0356\u0357lgo@example.com",
    "RTL override": "\u202eadmin@example.com",
    "RTL override mid-address": "user\u202emoc.elpmaxe@x.org",
    "emoji": "\U0001f600@example.com",
    "zero-width joiner": "\U0001f468\u200d\U0001f469\u200d\U0001f467@family.example",
    "zero-width space": "a\u200bb@example.com",
    "Cyrillic homoglyph": "\u0430dmin@example.com",
    "CJK domain": "user@\u4f8b\u3048.\u30c6\u30b9\u30c8",
    "astral plane": "\U00010348\U0001d11e@example.com",
}


async def test_unicode_emails_are_stored_verbatim_and_distinct(
    api: ClientSession, secure_database: SecureDatabase
) -> None:
    ids = {}
    for n, (kind, email) in enumerate(UNICODE_EMAILS.items()):
        status, user = await create(api, f"uni{n}", email)
        assert (status, user["email"]) == (201, email), kind
        ids[kind] = user["id"]
    stored = await users_table(secure_database.owner_url)
    assert {kind: stored[i][1] for kind, i in ids.items()} == UNICODE_EMAILS
    # NFC and NFD render alike but are different strings: kept as sent, not normalised.
    nfc, nfd = stored[ids["NFC"]][1], stored[ids["NFD"]][1]
    assert nfc != nfd and unicodedata.normalize("NFC", nfd) == nfc
    async with api.get("/users", params={"limit": "500"}) as response:
        listed = {u["id"]: u["email"] for u in (await response.json())["users"]}
    assert listed == {i: email for i, (_, email) in stored.items()}


async def test_unicode_case_is_folded_for_uniqueness(api: ClientSession) -> None:
    assert (await create(api, "upper", "\u00c9COLE@example.com"))[0] == 201
    status, body = await create(api, "lower", "\u00e9cole@example.com")
    assert (status, body.get("field")) == (409, "email")


async def test_length_counts_characters_not_bytes(
    api: ClientSession, secure_database: SecureDatabase
) -> None:
    domain = "@x.org"
    exactly = "\U0001f600" * (100 - len(domain)) + domain  # 100 characters, 394 bytes
    status, user = await create(api, "astral", exactly)
    assert (status, user["email"]) == (201, exactly)
    status, body = await create(api, "astral2", "\U0001f600" + exactly)
    assert (status, body.get("field")) == (400, "email")
    assert list((await users_table(secure_database.owner_url)).values()) == [("astral", exactly)]


@pytest.mark.parametrize(
    "email",
    [
        "a\u2028b@example.com",  # line separator
        "a\u00a0b@example.com",  # no-break space
        "a\u0085b@example.com",  # next line
        "a\u3000b@example.com",  # ideographic space
        "a\x1fb@example.com",  # unit separator
        "a\x7fb@example.com",  # delete
        "a\tb@example.com",
    ],
)
async def test_unicode_spaces_and_controls_are_no_email(api: ClientSession, email: str) -> None:
    status, body = await create(api, "spacey", email)
    assert (status, body.get("field")) == (400, "email")


INVALID_UTF8 = {
    "over-long '/' (2 bytes)": b"\xc0\xaf",
    "over-long '/' (3 bytes)": b"\xe0\x80\xaf",
    "over-long '/' (4 bytes)": b"\xf0\x80\x80\xaf",
    "over-long NUL": b"\xc0\x80",
    "UTF-16 surrogate as UTF-8": b"\xed\xa0\x80",
    "beyond U+10FFFF": b"\xf4\x90\x80\x80",
    "lone continuation byte": b"\x80",
    "truncated sequence": b"\xe2\x82",
    "invalid byte": b"\xff",
}


@pytest.mark.parametrize("raw", INVALID_UTF8.values(), ids=INVALID_UTF8.keys())
async def test_invalid_utf8_in_a_body_is_400(
    api: ClientSession, secure_database: SecureDatabase, raw: bytes
) -> None:
    body = b'{"username": "bytes", "email": "a' + raw + b'@x.org"}'
    async with api.post(
        "/users", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert "UTF-8" in (await response.json())["error"]
    assert await users_table(secure_database.owner_url) == {}


@pytest.mark.parametrize("escaped", [r"\ud800", r"\udfff", r"\udc00\ud800", r"a\ud83d"])
async def test_lone_surrogates_in_json_escapes_are_400(api: ClientSession, escaped: str) -> None:
    body = f'{{"username": "sur", "email": "{escaped}@x.org"}}'.encode()
    async with api.post(
        "/users", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert (response.status, (await response.json()).get("field")) == (400, "email")


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GET /users/%C0%AF HTTP/1.1\r\n", 404),
        (b"GET /users?cursor=%C0%AF HTTP/1.1\r\n", 400),
        (b"GET /users?%C0%AF=1 HTTP/1.1\r\n", 400),
        (b"GET /users?cursor=\xc0\xaf HTTP/1.1\r\n", 400),
        (b"GET /users/\xc0\xaf HTTP/1.1\r\n", 400),
        (b"GET /users/\xed\xa0\x80 HTTP/1.1\r\n", 400),
        (b"GET /users HTTP/1.1\r\nX-Request-ID: \xc0\xaf\r\n", 200),
        (b"GET /users HTTP/1.1\r\nAccept: \xff\xfe\r\n", 200),
    ],
)
def test_invalid_utf8_in_urls_is_a_4xx_and_in_other_headers_ignored(
    secure_service: Service, empty_table: None, head: bytes, expected: int
) -> None:
    assert status_of(raw_request(secure_service.port, head)) == expected


@pytest.mark.parametrize(
    "token", [b"\xc0\xaf", b"\xff\xfe", b"k\xed\xa0\x80y-0123456789abcdefghij", "\u00e9".encode()]
)
def test_undecodable_api_keys_are_401(secure_service: Service, token: bytes) -> None:
    request = b"GET /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token + b"\r\n\r\n"
    response = raw_exchange(secure_service.port, request)
    assert status_of(response) == 401
    assert b"unknown API key" in response


# -- NUL bytes ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"username": "nul\\u0000x", "email": "n@x.org"}', "username"),
        (b'{"username": "nulls", "email": "n\\u0000@x.org"}', "email"),
        (b'{"username": "nulls", "email": "n@x.org\\u0000"}', "email"),
        (b'{"username": "nul\x00x", "email": "n@x.org"}', None),  # raw: not even JSON
        (b'{"username": "nulls", "email": "n@x.org"}\x00', None),
        (b'{"username\\u0000": "nulls", "email": "n@x.org"}', "username\x00"),
    ],
)
async def test_nul_in_bodies_is_400(
    api: ClientSession, secure_database: SecureDatabase, body: bytes, field: str | None
) -> None:
    async with api.post(
        "/users", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert (await response.json()).get("field") == field
    async with api.patch(
        "/users/1", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status in (400, 404)
    assert await users_table(secure_database.owner_url) == {}


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"GET /users?cursor=%00 HTTP/1.1\r\n", 400),
        (b"GET /users?limit=1%00 HTTP/1.1\r\n", 400),
        (b"GET /users?%00=1 HTTP/1.1\r\n", 400),
        (b"GET /users/1%00 HTTP/1.1\r\n", 404),
        (b"GET /users/1\x00 HTTP/1.1\r\n", 400),
        (b"GET /users HTTP/1.1\r\nX-Anything: a\x00b\r\n", 400),
        (b"GET /users HTTP/1.1\r\nX-Request-ID: \x00\r\n", 400),
    ],
)
def test_nul_in_urls_and_headers_is_a_4xx(
    secure_service: Service, empty_table: None, head: bytes, expected: int
) -> None:
    assert status_of(raw_request(secure_service.port, head)) == expected


# -- Sizes --------------------------------------------------------------------------------------


def test_a_1_mb_header_is_a_4xx_and_the_service_keeps_serving(secure_service: Service) -> None:
    started = time.monotonic()
    huge = b"GET /users HTTP/1.1\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n"
    assert status_of(raw_request(secure_service.port, huge)) == 400
    many = b"GET /users HTTP/1.1\r\n" + b"".join(
        b"X-H%d: %s\r\n" % (i, b"a" * 100) for i in range(10_000)
    )
    assert status_of(raw_request(secure_service.port, many)) == 400
    assert time.monotonic() - started < 2
    assert status_of(raw_request(secure_service.port, b"GET /users HTTP/1.1\r\n")) == 200


def test_10000_query_parameters_are_400_at_once(secure_service: Service) -> None:
    port = secure_service.port
    for params in (
        b"&".join(b"p%d=1" % i for i in range(10_000)),  # longer than aiohttp's request line
        b"&".join(b"limit=1" for _ in range(10_000)),
        b"&" * 10_000,
        b"&".join(b"p%d" % i for i in range(1_500)),  # within it: our handler's 400
        b"&".join(b"limit=1" for _ in range(1_000)),
    ):
        started = time.monotonic()
        status = status_of(raw_request(port, b"GET /users?" + params + b" HTTP/1.1\r\n"))
        assert (status, time.monotonic() - started < 1) == (400, True), params[:40]
    assert status_of(raw_request(port, b"GET /users?limit=5 HTTP/1.1\r\n")) == 200


def _padded(size: int) -> bytes:
    """A valid user as JSON, padded with whitespace to exactly `size` bytes."""
    body = b'{"username": "edge%d", "email": "edge%d@example.com"}' % (size, size)
    return body[:-1] + b" " * (size - len(body)) + b"}"


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_bodies_just_under_and_over_the_limit(
    api: ClientSession, secure_database: SecureDatabase, chunked: bool
) -> None:
    async def send(body: bytes) -> int:
        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(body), 4096):
                yield body[start : start + 4096]

        data: Any = chunks() if chunked else body
        async with api.post(
            "/users", data=data, headers={"Content-Type": "application/json"}
        ) as response:
            await response.read()
            return response.status

    assert await send(_padded(MAX_BODY_BYTES)) == 201
    assert await send(_padded(MAX_BODY_BYTES + 1)) == 413
    assert await send(_padded(MAX_BODY_BYTES * 16)) == 413
    assert len(await users_table(secure_database.owner_url)) == 1


def test_an_announced_oversized_body_is_refused_before_it_is_sent(secure_service: Service) -> None:
    for length in (MAX_BODY_BYTES + 1, 10**18):
        head = (
            b"POST /users HTTP/1.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n" % length
        )
        started = time.monotonic()
        assert status_of(raw_request(secure_service.port, head, b"{")) == 413
        assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 30_000 + b"]" * 30_000, "malformed JSON"),  # 60 KB, 30,000 deep
        (b'{"username": ' + b"9" * 5_000 + b"}", "malformed JSON"),
        (b'{"username": NaN, "email": "a@b.cd"}', "username must be a string"),
        (b'{"username": "' + b"a" * 60_000 + b'", "email": "a@b.cd"}', "username must be"),
        (b'{"username": {"$ne": null}, "email": "a@b.cd"}', "username must be a string"),
        (b'{"username": ["a"], "email": "a@b.cd"}', "username must be a string"),
        (b'{"__proto__": {"admin": true}}', "unknown field"),
    ],
)
async def test_json_bombs_and_type_confusion_are_400(
    api: ClientSession, body: bytes, error: str
) -> None:
    started = time.monotonic()
    async with api.post(
        "/users", data=body, headers={"Content-Type": "application/json"}
    ) as response:
        assert response.status == 400
        assert error in (await response.json())["error"]
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(
    "head",
    [
        # Request smuggling: both lengths, two lengths, a negative one, a broken chunk.
        b"POST /users HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n",
        b"POST /users HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n",
        b"POST /users HTTP/1.1\r\nContent-Length: -1\r\n",
        b"POST /users HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n",
        b"GET /users HTTP/9.9\r\n",
        b"FOO /users HTTP/1.1\r\n",
    ],
)
def test_ambiguous_framing_is_400(secure_service: Service, head: bytes) -> None:
    response = raw_request(secure_service.port, head, b"0\r\n\r\n")
    assert status_of(response) == 400


@pytest.mark.parametrize("version", [b"0.9", b"2.0"])
@pytest.mark.parametrize("path", [b"/users", b"/healthz"])
def test_http_versions_other_than_1_0_and_1_1_are_400_and_closed(
    secure_service: Service, version: bytes, path: bytes
) -> None:
    response = raw_request(secure_service.port, b"GET " + path + b" HTTP/" + version + b"\r\n")
    head, _, body = response.partition(b"\r\n\r\n")
    assert status_of(response) == 400
    assert b"\r\nConnection: close\r\n" in head
    assert b"is not supported: use HTTP/1.1 or HTTP/1.0" in body


# -- Cursors ------------------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


async def _page(api: ClientSession, cursor: str) -> tuple[int, dict[str, Any]]:
    async with api.get("/users", params={"limit": "2", "cursor": cursor}) as response:
        return response.status, await response.json()


async def test_tampered_truncated_and_foreign_cursors_are_400(api: ClientSession) -> None:
    for n in range(5):
        await create(api, f"page{n}", f"page{n}@example.com")
    async with api.get("/users", params={"limit": "2"}) as response:
        cursor = (await response.json())["next_cursor"]
    assert (await _page(api, cursor))[0] == 200
    invalid = [
        "",
        cursor[:4],
        cursor[:-6],  # cut inside the timestamp: "v1.<digits>" with no id
        cursor + "!",
        cursor.replace(cursor[2], "*"),
        cursor + "A" * 64,
        "=" + cursor,
        cursor.upper() if cursor.upper() != cursor else cursor.lower(),
        # foreign: another service's cursors, tokens and offsets
        "eyJhbGciOiJIUzI1NiJ9.eyJleHAiOjE1MTYyMzkwMjJ9.c2lnbmF0dXJl",
        _b64('{"offset": 10}'),
        _b64("v2.1764150000000000.1"),
        _b64("v1.1764150000000000"),
        _b64("v1.1764150000000000.0"),
        _b64("v1.1764150000000000.-1"),
        _b64("v1.1764150000000000.9223372036854775808"),  # beyond bigint
        _b64("v1.99999999999999999999.1"),  # more digits than the format allows
        _b64("v1.9999999999999999999.1"),  # after year 9999: no such datetime
        _b64("v1.-9999999999999999999.1"),
        _b64("v1.1764150000000000.1 OR 1=1"),
        _b64("v1.1764150000000000.1\x00"),
        "\u00e9" * 10,
        "%00",
        "' OR 1=1--",
    ]
    for bad in invalid:
        status, body = await _page(api, bad)
        assert (status, body.get("field")) == (400, "cursor"), (bad, body)


async def test_any_edit_of_a_cursor_is_a_200_or_a_400_never_more(api: ClientSession) -> None:
    """Cursors are positions, not credentials (README): an edit that still decodes is just
    another position (read access is checked on every request). Every single-character edit
    and every truncation is tried."""
    for n in range(3):
        await create(api, f"edit{n}", f"edit{n}@example.com")
    async with api.get("/users", params={"limit": "1"}) as response:
        cursor = (await response.json())["next_cursor"]
    alphabet = "AZaz09-_=.+/!~"
    variants = {cursor[:i] for i in range(len(cursor))}
    variants |= {cursor[:i] + c + cursor[i + 1 :] for i in range(len(cursor)) for c in alphabet}
    statuses = {(await _page(api, v))[0] for v in variants}
    assert statuses <= {200, 400}


@pytest.mark.parametrize(
    ("position", "users"),
    [
        ("v1.0.1", 0),  # the epoch: nothing is older
        ("v1.-62135596800000000.1", 0),  # year 1
        ("v1.253402300799999999.9223372036854775807", 2),  # the last moment of year 9999
    ],
)
async def test_old_or_far_future_cursors_are_valid_positions(
    api: ClientSession, position: str, users: int
) -> None:
    for n in range(2):
        await create(api, f"time{n}", f"time{n}@example.com")
    status, body = await _page(api, _b64(position))
    assert (status, body["count"]) == (200, users)


async def test_a_cursor_outlives_the_user_it_points_after(api: ClientSession) -> None:
    for n in range(4):
        await create(api, f"gone{n}", f"gone{n}@example.com")
    async with api.get("/users", params={"limit": "2"}) as response:
        first = await response.json()
    async with api.delete(f"/users/{first['users'][-1]['id']}") as response:
        assert response.status == 204
    status, body = await _page(api, first["next_cursor"])
    assert (status, [u["username"] for u in body["users"]]) == (200, ["gone1", "gone0"])
