"""Keyset cursors (opaque positions in the list, not credentials) and the `limit` parameter
of GET /users."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

from service.errors import BadRequest
from service.users import PagePosition

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_ID = 2**63 - 1
# "v1." + microseconds since the epoch + "." + id: versioned so the format can change later.
_CURSOR = re.compile(r"v1\.(-?\d{1,19})\.(\d{1,19})")
_LIMIT = re.compile(r"[0-9]{1,4}")  # ASCII digits: \d would take other scripts' digits


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return int(raw)


def encode_cursor(position: PagePosition) -> str:
    micros = (position.created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"v1.{micros}.{position.id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> PagePosition:
    """The position a cursor names. Text that is not a position in exactly the encoding
    encode_cursor gives is a 400, never a 500; a well-formed position is valid whoever made it
    (a cursor is a position, not a credential: README, "The API")."""
    invalid = BadRequest(
        "cursor is invalid: pass next_cursor from a previous page unchanged", field="cursor"
    )
    # Length and alphabet need no check of their own: the query line's size bounds the work,
    # and only the exact text encode_cursor gives for the position decoded passes below.
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise invalid
    micros, user_id = int(match[1]), int(match[2])
    if not 1 <= user_id <= _MAX_ID:
        raise invalid
    try:
        created_at = _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise invalid from None
    position = PagePosition(created_at=created_at, id=user_id)
    # The decoder skips characters outside the alphabet and ignores spare bits, and the format
    # allows leading zeros: only the exact text we would issue for this position is ours.
    if encode_cursor(position) != cursor:
        raise invalid
    return position
