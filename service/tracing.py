"""OpenTelemetry traces, opt-in (OTEL_EXPORTER_OTLP_ENDPOINT): a server span per request named by
method and route template, a client span per query named by the query's name, the caller's W3C
traceparent honoured, spans sent in batches to an OTLP/HTTP collector by a background thread.

service/app.py imports this module only when tracing is on: with it off, OpenTelemetry is never
loaded and requests pay nothing.

Why our own middleware and connection class rather than opentelemetry-instrumentation-aiohttp-
server and -asyncpg: both patch classes process-wide (web.Application; asyncpg.Connection's
methods) and read their settings from module globals, where everything here hangs off the app;
the aiohttp one records OpenTelemetry request metrics beside our Prometheus ones and, by
default, the raw URL with its query string and the Host and User-Agent headers; the asyncpg one
names a span after the statement's first word (`--` for our `-- name: x` comment), puts the
whole statement in an attribute and traces every query, readiness pings included. What we want
is ~100 lines: our route templates and query names (those of the metrics), no value from a
request in any attribute, and a query span only inside a sampled request.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import asyncpg
from aiohttp import web
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import (
    Link,
    SpanKind,
    Status,
    StatusCode,
    format_span_id,
    format_trace_id,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from service import __version__
from service.config import TracingSettings, redact_url
from service.logs import QUIET_PATHS, TRACE_IDS, route_template, trace_ids_var
from service.metrics import query_name
from service.state import TRACING, Handler

logger = logging.getLogger(__name__)
T = TypeVar("T")

# At shutdown, queued spans get this long to reach the collector, then are dropped: a collector
# that is down must not hold the pod past its grace period (the chart keeps a 5 s margin).
FLUSH_SECONDS = 2.0
TRACEPARENT = "traceparent"
# HTTP semantic conventions: other methods are reported as _OTHER, and their spans named HTTP.
_KNOWN_METHODS = frozenset(
    {"CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"}
)
_UNMATCHED = "<unmatched>"  # service.logs.route_template for a path that matches no route

if TYPE_CHECKING:
    _Connection = asyncpg.Connection[asyncpg.Record]
else:
    _Connection = asyncpg.Connection  # not subscriptable at run time


class Tracing:
    """The app's own tracer provider (never the global one): spans can be made from create_app
    on; they are exported once `run` (a cleanup_ctx) has started the batch processor."""

    def __init__(self, settings: TracingSettings) -> None:
        self.settings = settings
        self.root_ratio = _root_ratio(settings)
        self.provider = TracerProvider(
            sampler=_RootsSampled(_sampler(settings)),
            resource=Resource.create(
                {
                    **dict(settings.resource_attributes),
                    "service.name": settings.service_name,
                    "service.version": __version__,
                }
            ),
            # Ours is bounded (_flush); the SDK's atexit hook waits up to 30 s on a dead collector.
            shutdown_on_exit=False,
        )
        self.tracer = self.provider.get_tracer("user-service", __version__)
        self.propagator = TraceContextTextMapPropagator()
        self.connection_class: type[_Connection] = type(
            "TracedConnection", (TracedConnection,), {"tracer": self.tracer}
        )
        self.middleware = tracing_middleware

    async def run(self, app: web.Application) -> AsyncIterator[None]:
        # Export happens on the processor's thread, never on a request's path: a slow or dead
        # collector fills its queue (2,048 spans), and spans beyond that are dropped.
        exporter = OTLPSpanExporter(endpoint=self.settings.endpoint)
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        logger.info(
            "tracing on",
            extra={
                "endpoint": redact_url(self.settings.endpoint),
                "sampler": self.settings.sampler,
                "ratio": self.settings.ratio,
            },
        )
        yield
        await self._flush(exporter)

    async def _flush(self, exporter: OTLPSpanExporter) -> None:
        """Sends what is queued, for FLUSH_SECONDS at most. The SDK's shutdown would wait for a
        dead collector through its export timeout and retries (10 s and more), so it runs on a
        thread of its own; past the time, the exporter is shut, which ends its retries, and the
        spans still queued are dropped."""
        done = threading.Event()

        def shut_down() -> None:
            self.provider.shutdown()
            done.set()

        threading.Thread(target=shut_down, name="tracing-shutdown", daemon=True).start()
        if await asyncio.to_thread(done.wait, FLUSH_SECONDS):
            return
        exporter.shutdown()  # type: ignore[no-untyped-call]  # untyped upstream
        await asyncio.to_thread(done.wait, 1.0)
        logger.warning(
            "tracing: spans not sent within the flush time were dropped",
            extra={"flush_seconds": FLUSH_SECONDS},
        )


def _root_ratio(settings: TracingSettings) -> float:
    """The share of requests without a caller's trace that the configured sampler keeps."""
    name = settings.sampler.removeprefix("parentbased_")
    return {"always_on": 1.0, "always_off": 0.0}.get(name, settings.ratio)


class _RootsSampled(Sampler):
    """The middleware decides about root spans itself, before it asks the SDK for a span: at
    a ratio of 0.01, the SDK's start_span of the 99 spans it would drop cost more CPU than the
    one it keeps. A random draw at the configured ratio is what TraceIdRatioBased does with a
    fresh random trace id. So: every root span that reaches the SDK is sampled, a local child
    follows its parent, and a caller's trace goes to the configured sampler (parentbased_*
    follow its sampled flag, traceidratio judges its trace id)."""

    def __init__(self, configured: Sampler) -> None:
        self._configured = configured

    def should_sample(  # noqa: PLR0917 - the SDK's signature
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = trace.get_current_span(parent_context).get_span_context()
        if parent.is_valid and parent.is_remote:
            return self._configured.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
        sampled = not parent.is_valid or parent.trace_flags.sampled
        decision = Decision.RECORD_AND_SAMPLE if sampled else Decision.DROP
        return SamplingResult(decision, attributes if sampled else None, parent.trace_state)

    def get_description(self) -> str:
        return f"RootsSampledByTheMiddleware{{{self._configured.get_description()}}}"


def _sampler(settings: TracingSettings) -> Sampler:
    name = settings.sampler.removeprefix("parentbased_")
    root: Sampler = TraceIdRatioBased(settings.ratio)
    if name in ("always_on", "always_off"):
        root = ALWAYS_ON if name == "always_on" else ALWAYS_OFF
    return ParentBased(root) if settings.sampler.startswith("parentbased_") else root


@web.middleware
async def tracing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request's server span, current while every inner middleware and the handler run. Its
    attributes are the method, route template, scheme, protocol and status: never the path or
    query string (a caller may put anything there), a header or a body."""
    if request.path in QUIET_PATHS:  # probes and scrapes, as in the metrics
        return await handler(request)
    tracing = request.app[TRACING]
    parent = None
    if TRACEPARENT in request.headers:
        parent = tracing.propagator.extract(request.headers)
        if not trace.get_current_span(parent).get_span_context().is_valid:
            parent = None  # malformed: a root span, as if there were none
    # A span that is not sampled would be seen nowhere (this service propagates no context
    # onward, and logs ids only of sampled spans): for most requests, none is made at all.
    if parent is None and random.random() >= tracing.root_ratio:  # noqa: S311 - not a secret
        return await handler(request)
    method = request.method if request.method in _KNOWN_METHODS else "_OTHER"
    route = route_template(request)
    shown = "HTTP" if method == "_OTHER" else method
    attributes: dict[str, str] = {
        "http.request.method": method,
        "url.scheme": request.scheme,
        "network.protocol.version": f"{request.version.major}.{request.version.minor}",
    }
    if route != _UNMATCHED:
        attributes["http.route"] = route
    span = tracing.tracer.start_span(
        f"{shown} {route}" if route != _UNMATCHED else shown,
        context=parent,
        kind=SpanKind.SERVER,
        attributes=attributes,
    )
    if not span.is_recording():  # the caller's trace, not sampled
        return await handler(request)
    token = otel_context.attach(trace.set_span_in_context(span, parent))
    ids = span.get_span_context()
    request[TRACE_IDS] = (format_trace_id(ids.trace_id), format_span_id(ids.span_id))
    ids_token = trace_ids_var.set(request[TRACE_IDS])
    try:
        response = await handler(request)
    except BaseException as exc:  # the error middleware answers the rest: cancelled, mostly
        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(Status(StatusCode.ERROR))
        raise
    else:
        span.set_attribute("http.response.status_code", response.status)
        if response.status >= 500:  # a 4xx is the caller's doing, not a failed server span
            span.set_attribute("error.type", str(response.status))
            span.set_status(Status(StatusCode.ERROR))
        return response
    finally:
        trace_ids_var.reset(ids_token)
        otel_context.detach(token)
        span.end()


# The attributes of every query span: the query's own name (users.py) is its summary; never
# the statement, its parameters or an error message (a unique violation quotes the value).
_DB_SYSTEM = {"db.system.name": "postgresql"}


class TracedConnection(_Connection):
    """The pool's connection class while tracing is on: each query run inside a sampled request
    gets a client span named by the query's `-- name:` comment, a child of the request's span."""

    tracer: trace.Tracer  # set on the subclass Tracing makes

    async def _traced(
        self, run: Callable[..., Awaitable[T]], query: str, *args: Any, **kw: Any
    ) -> T:
        if trace_ids_var.get() is None:  # no sampled request's span is current
            return await run(query, *args, **kw)
        name = query_name(query)
        span = self.tracer.start_span(
            name, kind=SpanKind.CLIENT, attributes={**_DB_SYSTEM, "db.query.summary": name}
        )
        try:
            return await run(query, *args, **kw)
        except BaseException as exc:
            span.set_attribute("error.type", type(exc).__qualname__)
            span.set_status(Status(StatusCode.ERROR))
            raise
        finally:
            span.end()

    async def execute(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().execute, query, *args, **kw)

    async def executemany(self, command: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().executemany, command, *args, **kw)

    async def fetch(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().fetch, query, *args, **kw)

    async def fetchmany(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().fetchmany, query, *args, **kw)

    async def fetchrow(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().fetchrow, query, *args, **kw)

    async def fetchval(self, query: str, *args: Any, **kw: Any) -> Any:
        return await self._traced(super().fetchval, query, *args, **kw)
