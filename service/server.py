"""Serving with a drain that drops no request (factor 9).

On SIGTERM or SIGINT:
1. readiness fails at once, but the listener stays open for DRAIN_DELAY_SECONDS, answering
   with `Connection: close`, so load balancers and keep-alive clients move elsewhere;
2. the listener stops taking new connections, serves those already queued in the kernel, and
   closes (service/listener.py); idle connections close, in-flight requests get
   SHUTDOWN_TIMEOUT_SECONDS;
3. the pool closes and the process exits 0. A second signal exits at once (code 1).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import time
from collections.abc import Callable

from aiohttp import web

from service import listener
from service.app import create_app, create_metrics_app
from service.config import Settings
from service.logs import AccessLogger, access_logger
from service.metrics import Metrics
from service.state import READINESS

logger = logging.getLogger(__name__)
_SETTLE_SECONDS = 0.1
_BACKLOG = 128  # aiohttp's default
# The event loop empties even a full queue in milliseconds; this only bounds a stuck one.
_ACCEPT_QUEUE_TIMEOUT = 1.0


class ForcedExit(Exception):
    """A second signal arrived during shutdown."""


AppFactory = Callable[[Settings, Metrics], web.Application]


async def serve(settings: Settings, app_factory: AppFactory = create_app) -> None:
    """Serves until SIGTERM or SIGINT, then drains. app_factory is create_app but in the
    benchmark, which builds the app with some of its parts off (bench/variants.py)."""
    metrics = Metrics()
    app = app_factory(settings, metrics)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log_class=AccessLogger,
        access_log=access_logger,
        shutdown_timeout=settings.shutdown_timeout,
        # aiohttp's own default is an hour: a slow or idle client would hold a socket that long.
        keepalive_timeout=settings.keepalive_timeout,
    )
    await runner.setup()
    # Our own sockets, so that the drain can hold off new handshakes on them (service/listener.py).
    api_sockets = listener.listening_sockets(settings.host, settings.port, _BACKLOG)
    for sock in api_sockets:
        await web.SockSite(runner, sock, backlog=_BACKLOG).start()
    logger.info("listening", extra={"host": settings.host, "port": settings.port})
    metrics_runner = None
    if settings.metrics_port is not None:
        # Its own runner: scrapes keep working through the API's drain, and it closes last.
        metrics_runner = web.AppRunner(create_metrics_app(metrics), handle_signals=False)
        await metrics_runner.setup()
        await web.TCPSite(metrics_runner, settings.host, settings.metrics_port).start()
        logger.info("metrics listening", extra={"port": settings.metrics_port})

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    main_task = asyncio.current_task()
    if main_task is None:  # pragma: no cover - always inside asyncio.run
        raise RuntimeError("serve() must run inside a task")

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            logger.warning("second signal: exiting now", extra={"signal": signum.name})
            main_task.cancel("forced")
            return
        logger.info("shutdown requested", extra={"signal": signum.name})
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await stop.wait()
        await _shut_down(app, runner, api_sockets, settings)
    except asyncio.CancelledError:
        raise ForcedExit from None
    finally:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _shut_down(
    app: web.Application,
    runner: web.AppRunner,
    api_sockets: list[socket.socket],
    settings: Settings,
) -> None:
    started = time.monotonic()
    app[READINESS].start_draining()
    logger.info(
        "draining: readiness now fails, still serving",
        extra={"drain_delay_seconds": settings.drain_delay},
    )
    await asyncio.sleep(settings.drain_delay)
    logger.info(
        "closing listener, finishing in-flight requests",
        extra={
            "shutdown_timeout_seconds": settings.shutdown_timeout,
            "elapsed_seconds": round(time.monotonic() - started, 3),
        },
    )
    held_off = [sock for sock in api_sockets if listener.refuse_new_connections(sock)]
    for sock in held_off:
        left = await listener.drain_accept_queue(sock, within=_ACCEPT_QUEUE_TIMEOUT)
        if left:
            logger.warning("connections still queued at close", extra={"connections": left})
    for site in list(runner.sites):
        await site.stop()  # the listening socket closes: new connections are refused
    # asyncio takes a few loop turns to hand a just-accepted socket to aiohttp, and aiohttp's
    # shutdown ignores the request of a connection not yet waiting for one: it would hold the
    # exit for shutdown_timeout, then drop that request unanswered. A moment later every such
    # request is being handled like the others.
    await asyncio.sleep(_SETTLE_SECONDS)
    # aiohttp's own shutdown would wait its timeout, then only fail the requests' body reads and
    # wait as long again: a handler waiting on the database would get twice the timeout.
    cancelled = await app[READINESS].requests_in_progress.finish(settings.shutdown_timeout)
    if cancelled:
        logger.warning(
            "shutdown timeout: cancelled requests still in progress",
            extra={"requests": cancelled, "shutdown_timeout_seconds": settings.shutdown_timeout},
        )
    # Closes idle keep-alives and connections, then runs cleanup_ctx (the pool closes last).
    await runner.cleanup()
    logger.info("stopped", extra={"elapsed_seconds": round(time.monotonic() - started, 3)})
