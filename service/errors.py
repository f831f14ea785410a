"""Domain errors and the one middleware that turns every error into a JSON response."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import HttpVersion, HttpVersion10, HttpVersion11, web

from service.state import SETTINGS, Handler

logger = logging.getLogger(__name__)

# Clients should back off briefly when the database is away. Every replica answers so itself
# (readiness keeps pods in the Service, service/health.py): a retry a second later finds the
# database back, or a replica that reaches it.
RETRY_AFTER_SECONDS = 1
# aiohttp's parser also accepts HTTP/0.9 and HTTP/2.0 request lines, and would answer them in
# HTTP/1.1's format under the request's version.
SUPPORTED_HTTP_VERSIONS = frozenset({HttpVersion10, HttpVersion11})


class ApiError(Exception):
    """A failure the client should see, with its HTTP status and a human message."""

    status = 500

    def __init__(
        self, message: str, *, field: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class PayloadTooLarge(ApiError):
    status = 413


class UnsupportedMediaType(ApiError):
    status = 415


class ClientClosedRequest(ApiError):
    """The client went away before it finished sending its request. Its doing, not ours: counted
    under nginx's 499, which no 5xx query matches, and answered to nobody."""

    status = 499


class DatabaseUnavailable(ApiError):
    """The database cannot be reached in time: transient, so 503 with Retry-After."""

    status = 503

    def __init__(self, reason: str) -> None:
        super().__init__(
            "the database is unavailable, retry later",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        self.reason = reason


def too_large_message(max_bytes: int) -> str:
    return f"request body is too large (limit: {max_bytes} bytes)"


def error_response(
    status: int, body: dict[str, Any], headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        _require_supported_version(request.version)
        return await handler(request)
    except ApiError as exc:
        if isinstance(exc, DatabaseUnavailable):
            logger.warning("database unavailable", extra={"reason": exc.reason})
        elif isinstance(exc, ClientClosedRequest):
            logger.info("client went away", extra={"reason": exc.message, "path": request.path})
        return error_response(exc.status, exc.body(), exc.headers)
    except web.HTTPException as exc:
        # aiohttp's own errors: unknown route (404), wrong method (405, keeps Allow),
        # body over client_max_size (413). Same JSON shape as ours.
        if exc.status < 400:
            raise
        headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
        return error_response(exc.status, {"error": _reason(request, exc)}, headers)
    except Exception:
        # The one place an unexpected failure is logged, with its traceback, then hidden.
        logger.exception("unhandled error", extra={"path": request.path})
        return error_response(500, {"error": "internal server error"})


def _require_supported_version(version: HttpVersion) -> None:
    if version in SUPPORTED_HTTP_VERSIONS:
        return
    # 400, not 505: it is the client's doing, and a 5xx would count against the service's own
    # availability (anyone could page its on-call with HTTP/0.9 requests).
    raise BadRequest(
        f"HTTP/{version.major}.{version.minor} is not supported: use HTTP/1.1 or HTTP/1.0",
        headers={"Connection": "close"},
    )


def _reason(request: web.Request, exc: web.HTTPException) -> str:
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return f"method {exc.method} is not allowed here"
    if exc.status == 413:
        return too_large_message(request.app[SETTINGS].max_body_bytes)
    return exc.reason.lower()
