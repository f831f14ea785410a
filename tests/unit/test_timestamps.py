"""Timestamps in bodies: RFC 3339 in UTC with microseconds and a Z, whatever zone came in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from service.users import iso8601

MOMENT = datetime(2026, 12, 7, 3, 4, 5, 60, tzinfo=UTC)


@pytest.mark.parametrize(
    "moment",
    [
        MOMENT,  # what asyncpg returns
        MOMENT.astimezone(timezone(timedelta(hours=2))),
        MOMENT.astimezone(timezone(timedelta(hours=-9, minutes=-30))),
        MOMENT.astimezone(timezone(timedelta(0), "GMT")),  # zero offset, another tzinfo
    ],
)
def test_any_zone_is_written_in_utc_with_z(moment: datetime) -> None:
    assert iso8601(moment) == "2026-12-07T03:04:05.000060Z"


def test_whole_seconds_keep_their_microseconds() -> None:
    assert iso8601(MOMENT.replace(microsecond=0)) == "2026-12-07T03:04:05.000000Z"
