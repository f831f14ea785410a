"""Candidate service changes, measured without editing the service, through its seams.

    python -m bench.variants nometrics,uvloop    # serves like `service serve`, with those

Each variant is the smallest stand-in for a change the service could make, expressed through
what the service lets a caller choose: create_app's arguments, configure_logging's handler,
serve's app factory, or asyncio's event loop. `python -m bench --compare` runs the baseline
and the variants in one run (bench/compare.py); a NAME=VALUE variant is a setting instead
(LOG_LEVEL=WARNING drops the access log), and `pgbouncer` the database path instead (the
service behind a PgBouncer in transaction mode: bench/harness.py). uvloop is not a project
dependency: install it beside the project to try it, e.g. `pip install --target
/tmp/bench-extra uvloop` and `PYTHONPATH=/tmp/bench-extra`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TextIO

from service.app import create_app
from service.config import ConfigError, Settings
from service.logs import configure_logging
from service.server import serve


@dataclass
class Choices:
    """What the variants chose; the defaults are the service as it ships."""

    request_metrics: bool = True
    query_metrics: bool = True
    handler_class: Callable[[TextIO], logging.StreamHandler[TextIO]] = logging.StreamHandler


Variant = Callable[[Choices], None]


def _no_metrics(choices: Choices) -> None:
    """Neither the request metrics middleware nor the per-query logger."""
    choices.request_metrics = choices.query_metrics = False


def _no_query_logger(choices: Choices) -> None:
    """Request metrics kept; no asyncpg query logger (db_query_duration_seconds)."""
    choices.query_metrics = False


def _uvloop(choices: Choices) -> None:
    """uvloop's event loop for asyncio.run (Python 3.11 has no loop_factory)."""
    importlib.import_module("uvloop").install()


class _BufferedStreamHandler(logging.StreamHandler[TextIO]):
    """Lines are not flushed one by one: the stream's buffer is written when full, and at
    least every 0.2 s by a timer, so a line reaches the log at most that late."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        threading.Thread(target=self._flush_often, daemon=True).start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.stream.write(self.format(record) + self.terminator)
        except Exception:  # noqa: BLE001 - logging must never raise, as in the stdlib
            self.handleError(record)

    def _flush_often(self) -> None:
        while not threading.Event().wait(0.2):
            self.flush()


def _buffered_log(choices: Choices) -> None:
    choices.handler_class = _BufferedStreamHandler


VARIANTS: dict[str, Variant] = {
    "nometrics": _no_metrics,
    "noquerylog": _no_query_logger,
    "uvloop": _uvloop,
    "bufferedlog": _buffered_log,
}


def main() -> int:
    names = [n for n in sys.argv[1].split(",") if n] if len(sys.argv) > 1 else []
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        print(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    choices = Choices()
    for name in names:
        VARIANTS[name](choices)
    try:
        settings = Settings.from_env(os.environ)  # the benchmark always gives DATABASE_URL
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, choices.handler_class(sys.stdout))
    app_factory = partial(
        create_app,
        request_metrics=choices.request_metrics,
        query_metrics=choices.query_metrics,
    )
    asyncio.run(serve(settings, app_factory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
