"""Untrusted input to checked values: the README's rules for `username`, `email`, ids, bodies
and query strings, each failure the documented 4xx naming its field.

read_json_object and reject_unknown_query take real aiohttp Request objects, built without a
server by aiohttp.test_utils.make_mocked_request."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from aiohttp import web
from aiohttp.http_exceptions import TransferEncodingError
from aiohttp.streams import StreamReader
from aiohttp.test_utils import make_mocked_request

from service.errors import (
    ApiError,
    BadRequest,
    ClientClosedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from service.validation import (
    parse_new_user,
    parse_user,
    parse_user_id,
    read_json_object,
    reject_unknown_query,
)

MAX_ID = 2**63 - 1  # PostgreSQL bigint
USERNAME_RULE = "username must be 3 to 50 characters: letters, digits, '_', '.' or '-'"
EMAIL_RULE = "email must look like name@example.com and be at most 100 characters"
EMAIL_100 = "x" * 88 + "@example.com"
ADA = {"username": "ada", "email": "ada@example.org"}


def refusal(body: dict[str, Any], *, partial: bool = False) -> BadRequest:
    with pytest.raises(BadRequest) as raised:
        parse_user(body, partial=partial)
    return raised.value


def fields_of(body: dict[str, Any], *, partial: bool = False) -> tuple[str | None, str | None]:
    parsed = parse_user(body, partial=partial)
    return parsed.get("username"), parsed.get("email")


# Ids: a positive PostgreSQL bigint, else 404 (such a user cannot exist).


@pytest.mark.parametrize(("raw", "user_id"), [("1", 1), ("42", 42), (str(MAX_ID), MAX_ID)])
def test_ids_from_1_to_the_largest_bigint_are_accepted(raw: str, user_id: int) -> None:
    assert parse_user_id(raw) == user_id


@pytest.mark.parametrize(
    "raw",
    [
        "0",
        "-1",
        str(MAX_ID + 1),
        "9" * 20,
        "",
        "abc",
        "1.5",
        "1e3",
        "+1",
        " 1",
        "1 ",
        "0x1",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: int() would take it
        "1_000",  # int() would take it too
    ],
)
def test_ids_that_cannot_exist_are_404(raw: str) -> None:
    with pytest.raises(NotFound) as raised:
        parse_user_id(raw)
    assert (raised.value.status, raised.value.body()) == (404, {"error": "user not found"})


# Users: `username` 3 to 50 of A-Z a-z 0-9 _ . -; `email` at most 100 characters shaped like
# name@example.com, Unicode allowed, kept as given.


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 50, "Ada_L.o-v3", "___", "...", "007"],
    ids=["3 chars", "50 chars", "every kind", "underscores", "dots", "digits"],
)
def test_usernames_within_the_rules_are_accepted(username: str) -> None:
    assert fields_of({**ADA, "username": username}) == (username, ADA["email"])


@pytest.mark.parametrize(
    "username",
    ["ab", "a" * 51, "", "has space", "ali\u00e7e", "alice\n", "ali/ce", "ali@ce", "\uff41da"],
    ids=[
        "2 chars",
        "51 chars",
        "empty",
        "space",
        "non-ASCII",
        "newline",
        "slash",
        "at",
        "fullwidth",
    ],
)
def test_other_usernames_are_400_naming_username(username: str) -> None:
    error = refusal({**ADA, "username": username})
    assert (error.status, error.body()) == (400, {"error": USERNAME_RULE, "field": "username"})


@pytest.mark.parametrize(
    "email",
    [
        "a@b.co",
        "Ada@Example.ORG",
        "ada.l+tag@sub.example.org",
        "jos\u00e9@ex\u00e4mple.org",
        EMAIL_100,
    ],
    ids=["short", "case kept", "plus and subdomain", "Unicode", "100 chars"],
)
def test_emails_within_the_rules_are_accepted_as_given(email: str) -> None:
    assert len(EMAIL_100) == 100
    assert fields_of({**ADA, "email": email}) == (ADA["username"], email)


@pytest.mark.parametrize(
    "email",
    [
        "x" + EMAIL_100,
        "no-at-sign",
        "a@nodot",
        "a@b@c.org",
        "a @example.com",
        "a\t@example.com",
        "a\u00a0b@example.com",
        "a@exa mple.com",
        "a@.example.com",
        "a@example..com",
        "a@example.com.",
        "@example.com",
        "a@",
        "",
    ],
    ids=[
        "101 chars",
        "no at",
        "no dot",
        "two ats",
        "space",
        "tab",
        "no-break space",
        "space in domain",
        "leading dot",
        "double dot",
        "trailing dot",
        "no local part",
        "no domain",
        "empty",
    ],
)
def test_other_emails_are_400_naming_email(email: str) -> None:
    error = refusal({**ADA, "email": email})
    assert (error.status, error.body()) == (400, {"error": EMAIL_RULE, "field": "email"})


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        ({"email": "a@example.com"}, "username is required", "username"),
        ({"username": "ada"}, "email is required", "email"),
        ({}, "username is required", "username"),
        ({**ADA, "username": 42}, "username must be a string", "username"),
        ({**ADA, "username": None}, "username must be a string", "username"),
        ({**ADA, "username": True}, "username must be a string", "username"),
        ({**ADA, "username": ["ada"]}, "username must be a string", "username"),
        ({**ADA, "email": {"a": 1}}, "email must be a string", "email"),
        ({**ADA, "username": "ali\x00ce"}, "username must not contain NUL characters", "username"),
        ({**ADA, "email": "a\x00b@example.com"}, "email must not contain NUL characters", "email"),
        ({**ADA, "username": "ab\ud800c"}, "username must be valid Unicode text", "username"),
        ({**ADA, "email": "\udcff@example.com"}, "email must be valid Unicode text", "email"),
        # Every field's presence and type is checked before any field's rule.
        ({"username": "x", "email": 42}, "email must be a string", "email"),
        ({"username": "x"}, "email is required", "email"),
    ],
)
def test_missing_wrongly_typed_or_unencodable_fields_are_400_naming_the_field(
    body: dict[str, Any], message: str, field: str
) -> None:
    error = refusal(body)
    assert (error.status, error.body()) == (400, {"error": message, "field": field})


@pytest.mark.parametrize("partial", [False, True])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**ADA, "admin": True}, "admin"),
        ({"admin": True}, "admin"),
        ({"Username": "ada", "email": "ada@example.org"}, "Username"),
        ({"id": 1, "username": "ada"}, "id"),
    ],
)
def test_unknown_fields_are_400_naming_them_before_anything_else(
    body: dict[str, Any], field: str, partial: bool
) -> None:
    error = refusal(body, partial=partial)
    assert (error.status, error.field) == (400, field)
    assert error.message == f"unknown field {field!r}; allowed: username, email"


def test_a_full_user_gives_both_fields() -> None:
    assert fields_of(ADA) == ("ada", "ada@example.org")
    assert parse_new_user(dict(ADA)) == ("ada", "ada@example.org")


def test_a_new_user_needs_both_fields_valid() -> None:
    with pytest.raises(BadRequest) as raised:
        parse_new_user({"username": "ada"})
    assert (raised.value.message, raised.value.field) == ("email is required", "email")
    with pytest.raises(BadRequest) as raised:
        parse_new_user({**ADA, "username": "ab"})
    assert raised.value.field == "username"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"username": "ada"}, ("ada", None)),
        ({"email": "ada@example.org"}, (None, "ada@example.org")),
        (ADA, ("ada", "ada@example.org")),
    ],
)
def test_a_partial_user_gives_the_fields_present(
    body: dict[str, Any], fields: tuple[str | None, str | None]
) -> None:
    assert fields_of(body, partial=True) == fields


def test_a_partial_user_needs_at_least_one_field() -> None:
    error = refusal({}, partial=True)
    assert (error.status, error.body()) == (400, {"error": "give at least one of: username, email"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "ab"}, "username"),
        ({"email": "nodot@x"}, "email"),
        ({"username": None}, "username"),
        ({"email": "a\x00@b.org"}, "email"),
    ],
)
def test_a_partial_user_follows_the_same_rules(body: dict[str, Any], field: str) -> None:
    assert refusal(body, partial=True).field == field


# Bodies: application/json in UTF-8, at most max_bytes, a JSON object.


def json_request(
    body: bytes | BaseException,
    content_type: str | None = "application/json",
    content_length: int | None = None,
) -> web.Request:
    """A POST /users whose body is `body`, or whose reading raises it."""
    payload = StreamReader(mock.Mock(), 2**20, loop=asyncio.get_running_loop())
    if isinstance(body, BaseException):
        payload.set_exception(body)
    else:
        payload.feed_data(body)
        payload.feed_eof()
        content_length = len(body) if content_length is None else content_length
    headers = {}
    if content_type is not None:
        headers["Content-Type"] = content_type
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    return make_mocked_request("POST", "/users", headers=headers, payload=payload)


async def refused_body(request: web.Request, max_bytes: int = 1024) -> ApiError:
    with pytest.raises(ApiError) as raised:
        await read_json_object(request, max_bytes)
    return raised.value


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "application/json; charset=UTF8"],
)
async def test_a_json_object_in_utf8_is_read(content_type: str) -> None:
    request = json_request(b'{"username": "ada", "n": [1, {"x": null}]}', content_type)
    assert await read_json_object(request, 1024) == {"username": "ada", "n": [1, {"x": None}]}


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        (None, "Content-Type must be application/json"),
        ("text/plain", "Content-Type must be application/json"),
        ("application/x-www-form-urlencoded", "Content-Type must be application/json"),
        ("application/json-patch+json", "Content-Type must be application/json"),
        ("application/json; charset=latin-1", "JSON bodies must be UTF-8"),
        ("application/json; charset=utf-16", "JSON bodies must be UTF-8"),
    ],
)
async def test_other_media_types_are_415(content_type: str | None, message: str) -> None:
    error = await refused_body(json_request(b'{"username": "ada"}', content_type))
    assert isinstance(error, UnsupportedMediaType)
    assert (error.status, error.body()) == (415, {"error": message})


async def test_a_body_of_exactly_max_bytes_is_read_and_one_more_is_413() -> None:
    body = b'{"pad": "' + b"x" * 90 + b'"}'
    assert len(body) == 101
    assert await read_json_object(json_request(body), 101) == {"pad": "x" * 90}
    error = await refused_body(json_request(body), 100)
    assert isinstance(error, PayloadTooLarge)
    assert (error.status, error.message) == (413, "request body is too large (limit: 100 bytes)")


async def test_a_declared_length_over_the_limit_is_413_before_reading() -> None:
    request = json_request(ConnectionResetError("never read"), content_length=2049)
    error = await refused_body(request, 2048)
    assert (error.status, error.message) == (413, "request body is too large (limit: 2048 bytes)")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"{not json",
            "malformed JSON: Expecting property name enclosed in double quotes at line 1 column 2",
        ),
        (b"", "malformed JSON: Expecting value at line 1 column 1"),
        (b'{"a": 1}\n{"b": 2}', "malformed JSON: Extra data at line 2 column 1"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b'"text"', "request body must be a JSON object"),
        (b"null", "request body must be a JSON object"),
        (b"\xff\xfe{}", "request body is not valid UTF-8"),
        (b'{"username": "\xc3"}', "request body is not valid UTF-8"),
        (b'{"n": ' + b"1" * 5000 + b"}", "malformed JSON: too large or too deeply nested"),
        (b"[" * 100_000 + b"]" * 100_000, "malformed JSON: too large or too deeply nested"),
    ],
    ids=[
        "not JSON",
        "empty",
        "two documents",
        "array",
        "string",
        "null",
        "not UTF-8",
        "truncated UTF-8",
        "5000 digits",
        "nested 100k deep",
    ],
)
async def test_bodies_that_are_not_a_json_object_are_400(body: bytes, message: str) -> None:
    error = await refused_body(json_request(body), max_bytes=2**20)
    assert isinstance(error, BadRequest)
    assert (error.status, error.body()) == (400, {"error": message})


async def test_a_malformed_chunked_body_is_400() -> None:
    request = json_request(
        TransferEncodingError("Not enough data for satisfy transfer length header.")
    )
    error = await refused_body(request)
    assert (error.status, error.message) == (
        400,
        "malformed request body: Not enough data for satisfy transfer length header.",
    )


async def test_a_client_that_leaves_mid_body_is_499_not_a_server_error() -> None:
    error = await refused_body(json_request(ConnectionResetError("reset by peer")))
    assert isinstance(error, ClientClosedRequest)
    assert (error.status, error.message) == (
        499,
        "the connection closed before the body was complete",
    )


# Query strings: only the route's parameters, each at most once.

LIST_PARAMETERS = frozenset({"limit", "cursor"})


@pytest.mark.parametrize("query", ["", "?limit=5", "?cursor=abc", "?limit=5&cursor=abc", "?limit="])
def test_known_query_parameters_given_once_are_accepted(query: str) -> None:
    reject_unknown_query(make_mocked_request("GET", f"/users{query}"), LIST_PARAMETERS)


@pytest.mark.parametrize(
    ("query", "message", "field"),
    [
        ("?page=2", "unknown query parameter 'page'", "page"),
        ("?limit=5&Limit=5", "unknown query parameter 'Limit'", "Limit"),
        ("?limit=1&limit=2", "query parameter 'limit' given more than once", "limit"),
        ("?cursor=a&limit=1&cursor=a", "query parameter 'cursor' given more than once", "cursor"),
    ],
)
def test_unknown_or_repeated_query_parameters_are_400_naming_them(
    query: str, message: str, field: str
) -> None:
    with pytest.raises(BadRequest) as raised:
        reject_unknown_query(make_mocked_request("GET", f"/users{query}"), LIST_PARAMETERS)
    assert (raised.value.status, raised.value.body()) == (400, {"error": message, "field": field})


def test_a_route_without_parameters_refuses_any() -> None:
    with pytest.raises(BadRequest) as raised:
        reject_unknown_query(make_mocked_request("GET", "/users/1?x"), frozenset())
    assert raised.value.field == "x"
