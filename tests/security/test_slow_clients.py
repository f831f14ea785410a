"""Slow clients: connections that trickle their headers a byte at a time, or send nothing.

What aiohttp does (3.14): a connection's keep-alive timer starts when it is accepted and is not
pushed back by incoming bytes, so a request whose headers never end is closed `keepalive_timeout`
seconds after the connection opened, however slowly it trickles (the in-process test below
measures it). Each waiting connection costs a socket and a few KB, never a worker: the event loop
keeps serving everyone else. The service gives aiohttp KEEPALIVE_TIMEOUT_SECONDS as its
keepalive_timeout (service/server.py), 75 s by default, so against the real process here, with
the default, a trickler is still connected when the test ends; tests/test_timeouts.py checks that
the real process closes it after that setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, TCPConnector, web

from service.processes import free_port
from tests.helpers import WRITE_AUTH
from tests.procs import Service
from tests.security.conftest import record_summary

pytestmark = pytest.mark.slow

SLOW_CLIENTS = 5
IDLE_CLIENTS = 200
TRICKLE_SECONDS = 6.0
BYTE_INTERVAL = 0.1
# A request that never ends: every byte is valid, the blank line never comes.
ENDLESS_HEAD = b"GET /users HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 4000


async def trickle(port: int, seconds: float) -> float | None:
    """Trickles ENDLESS_HEAD for `seconds`; when the server closed the connection, or None."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    try:
        for byte in ENDLESS_HEAD:
            if time.monotonic() - started > seconds:
                return None
            try:
                writer.write(bytes([byte]))
                await writer.drain()
                if await asyncio.wait_for(reader.read(1024), BYTE_INTERVAL) == b"":
                    return time.monotonic() - started
            except TimeoutError:
                continue  # nothing from the server: go on trickling
            except ConnectionError:
                return time.monotonic() - started
        return None
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def idle_connections(port: int, count: int) -> AsyncIterator[None]:
    """Connections that are opened and then say nothing at all."""
    opened = [await asyncio.open_connection("127.0.0.1", port) for _ in range(count)]
    try:
        yield
    finally:
        for _, writer in opened:
            writer.close()


async def test_slow_and_idle_clients_do_not_hold_up_others(secure_service: Service) -> None:
    port = secure_service.port
    latencies: list[float] = []
    async with idle_connections(port, IDLE_CLIENTS):
        slow = [asyncio.create_task(trickle(port, TRICKLE_SECONDS)) for _ in range(SLOW_CLIENTS)]
        # A fresh connection per request, as a new client would open.
        async with ClientSession(
            secure_service.base_url, headers=WRITE_AUTH, connector=TCPConnector(force_close=True)
        ) as session:
            deadline = time.monotonic() + TRICKLE_SECONDS - 1
            while time.monotonic() < deadline:
                started = time.monotonic()
                async with session.get("/users", params={"limit": "5"}) as response:
                    assert response.status == 200
                    await response.read()
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.05)
        closed_after = await asyncio.gather(*slow)
    still_open = sum(1 for t in closed_after if t is None)
    record_summary(
        [
            f"slow clients: {SLOW_CLIENTS} trickling 1 byte per {BYTE_INTERVAL} s and "
            f"{IDLE_CLIENTS} idle connections for {TRICKLE_SECONDS} s: {still_open} of the "
            f"tricklers still connected at the end (aiohttp's keepalive_timeout bounds them);",
            f"  meanwhile {len(latencies)} normal requests, median "
            f"{statistics.median(latencies) * 1000:.1f} ms, slowest {max(latencies) * 1000:.1f} ms",
        ]
    )
    assert len(latencies) >= 20
    assert max(latencies) < 1.0
    # The tricklers were neither answered nor cut off early: the server simply waits on them, up
    # to KEEPALIVE_TIMEOUT_SECONDS (75 s here).
    assert closed_after == [None] * SLOW_CLIENTS


async def test_an_unfinished_request_is_closed_at_keepalive_timeout_however_it_trickles() -> None:
    """aiohttp's one bound on a slow client, measured with a short keepalive_timeout."""

    async def ok(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/users", ok)
    runner = web.AppRunner(app, keepalive_timeout=1.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        closed_after = await asyncio.gather(*(trickle(port, 5.0) for _ in range(3)))
    finally:
        await runner.cleanup()
    for seconds in closed_after:
        assert seconds is not None
        assert 1.4 < seconds < 3.5
