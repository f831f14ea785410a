"""A stand-in OpenTelemetry collector for the benchmark: accepts OTLP/HTTP span exports, as a
collector answers them, and discards them; GET /stats says how many it got.

    python -m bench.otlpsink --port 4318

It runs as its own process, so its CPU is not counted as the service's.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from aiohttp import web


@dataclass
class Received:
    exports: int = 0
    bytes: int = 0


def sink_app() -> web.Application:
    received = Received()

    async def export(request: web.Request) -> web.Response:
        received.bytes += len(await request.read())
        received.exports += 1
        # An empty body is an ExportTraceServiceResponse with nothing rejected.
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def stats(request: web.Request) -> web.Response:
        return web.json_response({"exports": received.exports, "bytes": received.bytes})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/v1/traces", export)
    app.router.add_get("/stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otlpsink")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    web.run_app(sink_app(), host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
