"""The JSON log line, held to what python-json-logger's own formatting gave before the service
built the line itself (service/logs.py's _Formatter): the same text, key for key, in order."""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import random
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from aiohttp.http_exceptions import BadHttpMessage
from pythonjsonlogger.json import JsonFormatter

from service import logs

MakeRecord = Callable[[], logging.LogRecord]


class _LibraryFormatter(JsonFormatter):
    """The formatter as the service configured it before: the library's generic merging."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "timestamp", "levelname": "level", "name": "logger"},
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        moment = datetime.fromtimestamp(record.created, UTC)
        return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Colour(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")


def _record(
    msg: object = "request",
    *args: object,
    name: str = "service.access",
    level: int = logging.INFO,
    extra: dict[str, Any] | None = None,
    exc_info: logging._SysExcInfoType | None = None,
    stack_info: str | None = None,
) -> MakeRecord:
    def make() -> logging.LogRecord:
        record = logging.getLogger(name).makeRecord(
            name, level, __file__, 1, msg, args, exc_info, "f", extra, stack_info
        )
        record.created = 1_796_000_000.123456
        return record

    return make


def _raise(error: Exception) -> None:
    raise error


def _raised(error: Exception | None = None) -> logging._SysExcInfoType:
    """A real exception's exc_info, with a traceback through this module."""
    try:
        _raise(error or ValueError("boom \u00e9"))
    except Exception:  # noqa: BLE001 - whatever it is, it is the record's
        return sys.exc_info()
    raise AssertionError("unreachable")


def _with_exc_text() -> logging.LogRecord:
    record = _record("cached traceback")()
    record.exc_text = "Traceback (most recent call last):\n  ...\nValueError: cached"
    return record


def _with_empty_exc_text() -> logging.LogRecord:
    record = _record("empty text", exc_info=_raised())()
    record.exc_text = ""
    return record


def _filtered(
    context_id: str | None, trace: logs.TraceIds | None, extra: dict[str, Any] | None = None
) -> MakeRecord:
    """A record stamped by the request-id filter, as while a request is handled."""

    def make() -> logging.LogRecord:
        record = _record("inside a request", name="service.users", extra=extra)()
        request_token = logs.request_id_var.set(context_id)
        trace_token = logs.trace_ids_var.set(trace)
        try:
            assert logs._RequestIdFilter().filter(record)
        finally:
            logs.request_id_var.reset(request_token)
            logs.trace_ids_var.reset(trace_token)
        return record

    return make


def _malformed_request() -> logging.LogRecord:
    record = _record(
        "Error handling request", name="aiohttp.server", level=logging.ERROR, exc_info=None
    )()
    record.exc_info = _raised(BadHttpMessage("bad header with an api key in it"))
    assert logs._MalformedRequestFilter().filter(record)
    return record


ACCESS_FIELDS = {
    "method": "GET",
    "route": "/users/{user_id}",
    "path": "/users/12345",
    "status": 200,
    "duration_ms": 1.234,
    "response_bytes": 317,
    "request_id": "4d73913d58e7435ebda0c6a7c02fe0e8",
    "api_key": "bench",
    "remote": "127.0.0.1",
}
TRACE = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")

RECORDS: dict[str, MakeRecord] = {
    "access line": _record(extra=ACCESS_FIELDS),
    "access line, traced": _record(
        extra={**ACCESS_FIELDS, "trace_id": TRACE[0], "span_id": TRACE[1]}
    ),
    "access line, no key, no remote": _record(
        extra={**ACCESS_FIELDS, "api_key": None, "remote": None}
    ),
    "probe at debug": _record(level=logging.DEBUG, extra={**ACCESS_FIELDS, "path": "/healthz"}),
    "settings": _record(
        "starting",
        name="service",
        extra={"settings": {"port": 8080, "database_url": "postgresql://u:***@h/d", "x": [1.5]}},
    ),
    "%-args": _record("%s users in %.1f s", 3, 0.25, name="service.users"),
    "int message": _record(404),
    "None message": _record(None),
    "object message": _record(Point(1, 2)),
    "dict message": _record({"event": "dict", "name": "renamed?", "exc_info": "mine"}),
    "dict message with exc_info": _record({"event": "d"}, exc_info=_raised()),
    "non-ascii and escapes": _record('h\u00e9llo "q"\n\t\\ \u2603 \U0001f600', extra={"k": "\x00"}),
    "exc_info": _record("failed", level=logging.ERROR, exc_info=_raised()),
    "exc_text only": _with_exc_text,
    "exc_info and empty exc_text": _with_empty_exc_text,
    "stack_info": _record("here", stack_info="Stack (most recent call last):\n  File x"),
    "exc_info and stack_info": _record(
        "both", exc_info=_raised(), stack_info="Stack (most recent call last):\n  File y"
    ),
    "non-JSON extras": _record(
        "odd values",
        extra={
            "when": datetime(2026, 12, 6, 23, 1, 2, 345678, tzinfo=UTC),
            "day": date(2026, 12, 6),
            "colour": Colour.RED,
            "point": Point(3, 4),
            "raw": b"\x00\xffbytes",
            "kind": ValueError,
            "error": ValueError("bad"),
            "things": {1},
            "unprintable": Unprintable(),
            "nan": math.nan,
            "inf": -math.inf,
            "big": 10**30,
            "flag": True,
            "nested": {"a": (1, 2), "b": None},
        },
    ),
    "extras shadowing the standard keys": _record(
        extra={"level": "mine", "logger": "mine", "timestamp": "mine", "_private": 1}
    ),
    "request id from the filter": _filtered("4d73913d58e7435ebda0c6a7c02fe0e8", None),
    "request and trace ids from the filter": _filtered("req-1", TRACE),
    "an explicit request id wins over the filter's": _filtered(
        "from-context", TRACE, {"request_id": "x", "trace_id": "y"}
    ),
    "no request": _filtered(None, None),
    "malformed request": _malformed_request,
}


@pytest.mark.parametrize("make", RECORDS.values(), ids=RECORDS.keys())
def test_the_line_is_the_librarys_line(make: MakeRecord) -> None:
    before, after = make(), make()
    expected = _LibraryFormatter().format(before)
    line = logs._Formatter().format(after)
    assert line == expected
    # What the library leaves on the record for other formatters, too.
    assert (after.message, after.asctime) == (before.message, before.asctime)


def test_the_access_line_has_todays_fields_in_order() -> None:
    line = logs._Formatter().format(_record(extra=ACCESS_FIELDS)())
    assert line == (
        '{"timestamp": "2026-11-30T00:53:20.123Z", "level": "INFO", "logger": "service.access", '
        '"message": "request", "method": "GET", "route": "/users/{user_id}", '
        '"path": "/users/12345", "status": 200, "duration_ms": 1.234, "response_bytes": 317, '
        '"request_id": "4d73913d58e7435ebda0c6a7c02fe0e8", "api_key": "bench", '
        '"remote": "127.0.0.1"}'
    )


def _times() -> Iterator[float]:
    """Now and then (before 1970 too), and the roundings' edges: a microsecond or a millisecond's
    end, a half."""
    rng = random.Random(11)
    for _ in range(20_000):
        yield rng.uniform(1e9, 4e9)
    for second in (-86_401, -2, 0, 1_796_000_000, 1_796_000_059, 1_799_999_999, 1_893_456_000):
        for fraction in (0.0, 0.0004995, 0.0005, 0.000999, 0.001, 0.1234565, 0.999, 0.9995):
            yield second + fraction
        for micros in range(999_990, 1_000_000):
            yield second + micros / 1e6
        yield math.nextafter(second + 1.0, 0.0)


def test_the_timestamp_is_the_datetime_one_at_every_instant() -> None:
    library, ours = _LibraryFormatter(), logs._Formatter()
    record = logging.makeLogRecord({})
    for created in _times():
        record.created = created
        assert ours.formatTime(record) == library.formatTime(record), created


def test_configure_logging_installs_the_formatter() -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        handler = logging.StreamHandler()
        logs.configure_logging("INFO", handler)
        assert type(handler.formatter) is logs._Formatter
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_new_request_ids_are_uuid4_hex_and_fresh() -> None:
    ids = [logs.new_request_id() for _ in range(2_000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        assert re.fullmatch(r"[0-9a-f]{32}", request_id)
        assert uuid.UUID(hex=request_id).version == 4
        assert uuid.UUID(hex=request_id).hex == request_id  # variant bits as uuid4 sets them
