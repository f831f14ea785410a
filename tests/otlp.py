"""A small OTLP/HTTP receiver on loopback for the tracing tests: it decodes every
ExportTraceServiceRequest the service POSTs (opentelemetry-proto) and keeps the spans."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from service.processes import free_port

# Run with `python -c`: builds and starts the app from the environment, prints the opentelemetry
# modules then loaded (none while tracing is off), as JSON on its last line.
MODULES_AFTER_START = """
import asyncio, json, os, sys
from aiohttp import web
import service.__main__
from service.app import create_app
from service.config import Settings

async def main():
    runner = web.AppRunner(create_app(Settings.from_env(os.environ)))
    await runner.setup()  # startup: the cleanup contexts ran
    loaded = sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry")
    await runner.cleanup()
    print(json.dumps(loaded))

asyncio.run(main())
"""

SERVER = Span.SPAN_KIND_SERVER
CLIENT = Span.SPAN_KIND_CLIENT
STATUS_ERROR = Status.STATUS_CODE_ERROR
STATUS_UNSET = Status.STATUS_CODE_UNSET


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attributes(value.kvlist_value.values)
    return getattr(value, kind) if kind else None


def _attributes(pairs: Any) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        found[pair.key] = _value(pair.value)
    return found


@dataclass(frozen=True)
class ReceivedSpan:
    name: str
    kind: int
    trace_id: str  # hex, as in a traceparent and the service's logs
    span_id: str
    parent_span_id: str  # "" for a root span
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    status: int
    status_message: str
    events: list[dict[str, Any]]
    resource: dict[str, Any]
    scope: str

    def strings(self) -> list[str]:
        """Every text the span carries to the collector, for searching secrets in."""
        texts = [self.name, self.status_message, self.scope]
        for attributes in (self.attributes, self.resource, *self.events):
            texts += [f"{k}={v}" for k, v in attributes.items()]
        return texts


@dataclass
class OtlpReceiver:
    """POST /v1/traces as an OpenTelemetry collector answers it."""

    spans: list[ReceivedSpan] = field(default_factory=list)
    exports: int = 0
    port: int = field(default_factory=free_port)
    _runner: web.AppRunner | None = None

    @property
    def endpoint(self) -> str:
        """What OTEL_EXPORTER_OTLP_ENDPOINT names (the exporter adds /v1/traces)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._export)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _export(self, request: web.Request) -> web.Response:
        assert request.content_type == "application/x-protobuf"
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        self.exports += 1
        for resource_spans in export.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    self.spans.append(
                        ReceivedSpan(
                            name=span.name,
                            kind=span.kind,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            start_ns=span.start_time_unix_nano,
                            end_ns=span.end_time_unix_nano,
                            attributes=_attributes(span.attributes),
                            status=span.status.code,
                            status_message=span.status.message,
                            events=[
                                {"name": e.name, **_attributes(e.attributes)} for e in span.events
                            ],
                            resource=resource,
                            scope=scope_spans.scope.name,
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def wait_for(
        self, predicate: Callable[[list[ReceivedSpan]], bool], within: float
    ) -> list[ReceivedSpan]:
        deadline = time.monotonic() + within
        while not predicate(self.spans):
            if time.monotonic() > deadline:
                names = [s.name for s in self.spans]
                raise AssertionError(f"spans not received within {within} s; got {names}")
            await asyncio.sleep(0.05)
        return self.spans
