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

USERNAME = re.compile(r"[A-Za-z0-9_.\-]{3,50}")
# A plausible local@domain.tld: no spaces, controls or extra @, a dot-separated domain.
EMAIL = re.compile(r"[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f.]+(\.[^@\s\x00-\x1f\x7f.]+)+")
EMAIL_MAX_LENGTH = 100
USER_FIELDS = ("username", "email")
_MAX_ID = 2**63 - 1  # PostgreSQL bigint
_DIGITS = re.compile(r"[0-9]{1,19}")


@dataclass(frozen=True, slots=True)
class UserFields:
    username: str | None
    email: str | None


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
    """Full (POST, PUT: both fields required) or partial (PATCH: at least one)."""
    for name in body:
        if name not in USER_FIELDS:
            raise BadRequest(
                f"unknown field {name!r}; allowed: {', '.join(USER_FIELDS)}", field=name
            )
    if partial and not body:
        raise BadRequest("give at least one of: username, email")
    username = _text(body, "username", required=not partial)
    email = _text(body, "email", required=not partial)
    if username is not None and USERNAME.fullmatch(username) is None:
        raise BadRequest(
            "username must be 3 to 50 characters: letters, digits, '_', '.' or '-'",
            field="username",
        )
    if email is not None and (len(email) > EMAIL_MAX_LENGTH or EMAIL.fullmatch(email) is None):
        raise BadRequest(
            f"email must look like name@example.com and be at most {EMAIL_MAX_LENGTH} characters",
            field="email",
        )
    return UserFields(username=username, email=email)


def parse_new_user(body: dict[str, Any]) -> tuple[str, str]:
    """POST: both fields required."""
    fields = parse_user(body, partial=False)
    if fields.username is None or fields.email is None:  # pragma: no cover - parse_user checked
        raise BadRequest("username and email are required")
    return fields.username, fields.email


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
