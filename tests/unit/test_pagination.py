"""GET /users's `limit` (1 to 500, default 50) and its cursors: every cursor issued decodes to
its position; text that is not a position in exactly that encoding is a 400 naming `cursor`;
a well-formed position is valid whoever wrote it (a position, not a credential: README)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from service.errors import BadRequest
from service.pagination import DEFAULT_LIMIT, MAX_LIMIT, decode_cursor, encode_cursor, parse_limit
from service.users import PagePosition

LIMIT_MESSAGE = "limit must be a whole number from 1 to 500"
CURSOR_MESSAGE = "cursor is invalid: pass next_cursor from a previous page unchanged"
MAX_ID = 2**63 - 1  # PostgreSQL bigint
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENT = datetime(2026, 11, 26, 10, 59, 28, 829682, tzinfo=UTC)


def cursor_of(text: str) -> str:
    """A cursor in the issued alphabet and shape (URL-safe base64, no padding) holding `text`."""
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def test_limit_defaults_to_50_when_absent() -> None:
    assert parse_limit(None) == DEFAULT_LIMIT == 50
    assert MAX_LIMIT == 500


@pytest.mark.parametrize(
    ("raw", "limit"), [("1", 1), ("2", 2), ("50", 50), ("499", 499), ("500", 500)]
)
def test_limits_from_1_to_500_are_accepted(raw: str, limit: int) -> None:
    assert parse_limit(raw) == limit


@pytest.mark.parametrize(
    "raw",
    [
        *("0", "501", "1000", "9999", "10000", "-1", "", " 5", "5 ", "+5", "1.5", "1e2", "abc"),
        "0x10",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit to Python's \d and int(), not to HTTP
        "\uff15",  # FULLWIDTH DIGIT FIVE
    ],
)
def test_other_limits_are_a_400_naming_limit(raw: str) -> None:
    with pytest.raises(BadRequest) as raised:
        parse_limit(raw)
    assert (raised.value.status, raised.value.message) == (400, LIMIT_MESSAGE)
    assert raised.value.field == "limit"


def test_a_cursor_is_versioned_text_in_url_safe_base64_without_padding() -> None:
    # Cursors outlive a deploy (a client pages through a rolling update): this exact text,
    # issued by earlier releases, must keep decoding to the same position.
    cursor = "djEuMTc5NTY5MDc2ODgyOTY4Mi4x"
    position = PagePosition(created_at=MOMENT, id=1)
    assert encode_cursor(position) == cursor
    assert base64.urlsafe_b64decode(cursor) == b"v1.1795690768829682.1"
    assert decode_cursor(cursor) == position


@pytest.mark.parametrize(
    "position",
    [
        PagePosition(created_at=MOMENT, id=1),
        PagePosition(created_at=MOMENT, id=10),  # base64 length 2 mod 4: two padding characters
        PagePosition(created_at=MOMENT, id=100),  # 3 mod 4: one padding character
        PagePosition(created_at=MOMENT, id=MAX_ID),
        PagePosition(created_at=EPOCH, id=42),
        PagePosition(created_at=EPOCH - timedelta(microseconds=1), id=7),
        PagePosition(created_at=datetime(1900, 1, 1, tzinfo=UTC), id=7),
        PagePosition(created_at=datetime(1, 1, 1, tzinfo=UTC), id=7),
        PagePosition(created_at=datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), id=7),
    ],
    ids=lambda position: f"{position.created_at.isoformat()}-{position.id}",
)
def test_every_issued_cursor_decodes_to_its_position(position: PagePosition) -> None:
    cursor = encode_cursor(position)
    assert cursor.isascii() and "=" not in cursor and len(cursor) <= 64
    decoded = decode_cursor(cursor)
    assert decoded == position
    assert decoded.created_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("text", "position"),
    [
        ("v1.0.5", PagePosition(created_at=EPOCH, id=5)),
        ("v1.-1000000.9", PagePosition(created_at=EPOCH - timedelta(seconds=1), id=9)),
    ],
)
def test_a_well_formed_position_is_valid_whoever_wrote_it(
    text: str, position: PagePosition
) -> None:
    assert decode_cursor(cursor_of(text)) == position


def test_cursors_keep_microseconds_and_order_distinct_positions() -> None:
    later = MOMENT + timedelta(microseconds=1)
    assert encode_cursor(PagePosition(MOMENT, 5)) != encode_cursor(PagePosition(later, 5))
    assert decode_cursor(encode_cursor(PagePosition(later, 5))).created_at == later


VALID = encode_cursor(PagePosition(created_at=MOMENT, id=1))
# Ends in a character of which only 2 bits carry data: the base64 decoder ignores the other 4.
WITH_SPARE_BITS = encode_cursor(PagePosition(created_at=MOMENT, id=10))


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param("", id="empty"),
        pytest.param("A" * 65, id="over 64 characters"),
        pytest.param("A" * 10_000, id="huge"),
        pytest.param("djEuMTc5NTY5MDc2ODgyOTY4Mi4xé", id="not ASCII"),
        pytest.param(VALID + "=", id="padded"),
        pytest.param(WITH_SPARE_BITS[:-1] + "B", id="spare bits set"),
        pytest.param(VALID[:5] + "!" + VALID[5:], id="character outside the alphabet"),
        pytest.param(VALID[:-1], id="truncated"),
        pytest.param("////", id="not base64 of text"),
        pytest.param(cursor_of("\u00e9t\u00e9"), id="not ASCII inside"),
        pytest.param(base64.b64encode(b"\xff\xfe\xfd").decode(), id="not UTF-8 inside"),
        pytest.param(cursor_of("v2.1795690768829682.1"), id="another version"),
        pytest.param(cursor_of("v1.1795690768829682"), id="no id"),
        pytest.param(cursor_of("v1.1795690768829682.1."), id="trailing dot"),
        pytest.param(cursor_of("v1.abc.1"), id="time not a number"),
        pytest.param(cursor_of("v1.1795690768829682.0"), id="id 0"),
        pytest.param(cursor_of(f"v1.1795690768829682.{MAX_ID + 1}"), id="id over bigint"),
        pytest.param(cursor_of("v1.1795690768829682.-1"), id="negative id"),
        pytest.param(cursor_of("v1.1795690768829682.01"), id="id with a leading zero"),
        pytest.param(cursor_of("v1.01795690768829682.1"), id="time with a leading zero"),
        pytest.param(cursor_of("v1.-0.1"), id="minus zero"),
        pytest.param(cursor_of("v1.9999999999999999999.1"), id="time past year 9999"),
        pytest.param(cursor_of("v1.-9999999999999999999.1"), id="time before year 1"),
        pytest.param(cursor_of("v1.12345678901234567890.1"), id="time of 20 digits"),
    ],
)
def test_text_that_is_not_a_position_in_our_encoding_is_a_400_naming_cursor(cursor: str) -> None:
    with pytest.raises(BadRequest) as raised:
        decode_cursor(cursor)
    assert (raised.value.status, raised.value.message) == (400, CURSOR_MESSAGE)
    assert raised.value.field == "cursor"
