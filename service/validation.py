"""Turning untrusted HTTP input into checked values; every failure is a 4xx naming the field."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from service.errors import (
    BadRequest,
    ClientClosedRequest,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
    too_large_message,
)
from service.user_resource import WRITABLE, WRITABLE_NAMES

USER_FIELDS = WRITABLE_NAMES
_MAX_ID = 2**63 - 1  # PostgreSQL bigint
_DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class UserFields:
    """A body's writable fields, in user_resource.WRITABLE's order; None where not given."""

    values: tuple[str | None, ...]

    def get(self, name: str) -> str | None:
        return self.values[WRITABLE_NAMES.index(name)]


def parse_user_id(raw: str) -> int:
    """An id that cannot exist (not a positive bigint) is simply not found."""
    if _DIGITS.fullmatch(raw) is None or not 1 <= int(raw) <= _MAX_ID:
        raise NotFound("user not found")
    return int(raw)


async def read_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Content-Type must be application/json")
    charset = request.charset
    if charset is not None and charset.lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("JSON bodies must be UTF-8")
    if request.content_length is not None and request.content_length > max_bytes:
        raise PayloadTooLarge(too_large_message(max_bytes))
    try:
        raw = await request.read()  # the app's client_max_size bounds chunked bodies too
    except HttpProcessingError as exc:  # e.g. a chunk size that is not hexadecimal
        raise BadRequest(f"malformed request body: {exc.message}") from None
    except ConnectionError:
        raise ClientClosedRequest("the connection closed before the body was complete") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadRequest("request body is not valid UTF-8") from None
    try:
        body = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadRequest(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except (ValueError, RecursionError):  # e.g. a 5,000-digit number, or arrays nested 100k deep
        raise BadRequest("malformed JSON: too large or too deeply nested") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    return body


def parse_user(body: dict[str, Any], *, partial: bool) -> UserFields:
    """Full (POST, PUT: every field required) or partial (PATCH: at least one)."""
    for name in body:
        if name not in USER_FIELDS:
            raise BadRequest(
                f"unknown field {name!r}; allowed: {', '.join(USER_FIELDS)}", field=name
            )
    if partial and not body:
        raise BadRequest(f"give at least one of: {', '.join(USER_FIELDS)}")
    # Presence and type of every field first, then each rule: as ever, a missing field is
    # named before another field's broken rule.
    values = tuple(_text(body, f.name, required=not partial) for f in WRITABLE)
    for user_field, value in zip(WRITABLE, values, strict=True):
        if value is not None and not user_field.accepts(value):
            raise BadRequest(user_field.error_message, field=user_field.name)
    return UserFields(values)


def parse_new_user(body: dict[str, Any]) -> tuple[str, ...]:
    """POST: every field required; their values in user_resource.WRITABLE's order."""
    given = tuple(v for v in parse_user(body, partial=False).values if v is not None)
    if len(given) != len(WRITABLE):  # pragma: no cover - parse_user checked
        raise BadRequest(f"{' and '.join(USER_FIELDS)} are required")
    return given


def _text(body: dict[str, Any], name: str, *, required: bool) -> str | None:
    if name not in body:
        if required:
            raise BadRequest(f"{name} is required", field=name)
        return None
    value = body[name]
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", field=name)
    if "\x00" in value:
        raise BadRequest(f"{name} must not contain NUL characters", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate such as "\ud800" in the JSON
        raise BadRequest(f"{name} must be valid Unicode text", field=name) from None
    return value


def reject_unknown_query(request: web.Request, allowed: frozenset[str]) -> None:
    for name in request.query:
        if name not in allowed:
            raise BadRequest(f"unknown query parameter {name!r}", field=name)
    for name in allowed:
        if len(request.query.getall(name, ())) > 1:
            raise BadRequest(f"query parameter {name!r} given more than once", field=name)
