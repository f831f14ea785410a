"""Running one of the benchmark's own aiohttp apps (the ceiling, the bare handler) as a process:
`--port`, and `--uvloop` when the service was seen to run on uvloop, so that they compare."""

from __future__ import annotations

import argparse
import asyncio
import importlib

from aiohttp import web


def run(app: web.Application, description: str | None) -> None:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--uvloop", action="store_true", help="the service runs on uvloop")
    args = parser.parse_args()
    # uvloop is optional: imported by name only when the service was seen to run on it.
    loop: asyncio.AbstractEventLoop = (
        importlib.import_module("uvloop").new_event_loop()
        if args.uvloop
        else asyncio.new_event_loop()
    )
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, loop=loop)
