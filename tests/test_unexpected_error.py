"""README: "an unexpected error is logged once, with its traceback, and answered
`{"error": "internal server error"}`".

The real app from create_app, with one extra route that fails the way a bug would: the error
crosses the app's own middleware chain (request ids, metrics, drain, the error middleware) as
any handler's would.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp import web

from service.app import create_app
from service.config import Settings
from service.state import DATABASE

BOOM_PATH = "/test-only/boom"
# Text that must stay in the log and never reach the client.
SECRET_DETAIL = "bug detail: internal state 4f2a9c that clients must never see"


class Bug(RuntimeError):
    """An error no layer of the service expects."""


def _fail_deep_inside() -> None:
    raise Bug(SECRET_DETAIL)


async def boom(request: web.Request) -> web.Response:
    _fail_deep_inside()
    return web.Response()  # pragma: no cover - never reached


async def test_an_unexpected_error_is_logged_once_with_its_traceback_and_answered_500(
    aiohttp_client: Callable[..., Any],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app(settings)
    app.router.add_get(BOOM_PATH, boom)
    client = await aiohttp_client(app)
    await app[DATABASE].connected.wait()
    caplog.clear()

    with caplog.at_level(logging.DEBUG):
        response = await client.get(BOOM_PATH)
        body = await response.read()

    assert response.status == 500
    assert response.content_type == "application/json"
    assert json.loads(body) == {"error": "internal server error"}
    assert SECRET_DETAIL.encode() not in body
    assert b"Traceback" not in body and b"Bug" not in body

    # Logged once: one record at ERROR or above in the whole process, from any logger.
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [(r.name, r.levelname, r.getMessage()) for r in errors]
    [record] = errors
    assert getattr(record, "path", None) == BOOM_PATH
    # With its traceback: the exception itself, down to the frame that raised it.
    assert record.exc_info is not None and isinstance(record.exc_info[1], Bug)
    rendered = "".join(traceback.format_exception(*record.exc_info))
    assert SECRET_DETAIL in rendered
    assert "_fail_deep_inside" in rendered
    # No other record carries the failure either (a second, lower-level copy is a copy too).
    copies = [r for r in caplog.records if r.exc_info or SECRET_DETAIL in r.getMessage()]
    assert copies == [record]
