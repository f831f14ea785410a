"""Typed application-state keys and shared type aliases (no module-level state lives here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from service.auth import Authenticator
    from service.config import Settings
    from service.db import Database
    from service.health import Readiness
    from service.metrics import Metrics
    from service.tracing import Tracing

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DATABASE: web.AppKey[Database] = web.AppKey("database")
READINESS: web.AppKey[Readiness] = web.AppKey("readiness")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
OPENAPI: web.AppKey[bytes] = web.AppKey("openapi")
# Present only while tracing is on (service/tracing.py).
TRACING: web.AppKey[Tracing] = web.AppKey("tracing")
# None when authentication is disabled (AUTH_DISABLED=true, or the embedded development run).
AUTH: web.AppKey[Authenticator | None] = web.AppKey("auth")
