"""SIGTERM under clients that open a new connection for every request (`Connection: close`).

Such clients keep the kernel's accept queue full. A connection the kernel accepted before the
listening socket closed has, as far as its client knows, been accepted: it sends its request.
Closing the socket with connections still queued resets them, request and all. The drain must
serve every connection accepted before the close; later ones are refused (no request sent).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest

from service import listener
from tests.helpers import Conn
from tests.procs import Service, ServiceGroup, clean_environ

pytestmark = pytest.mark.slow

CLIENTS = 64
DRAIN_DELAY = 1.0


async def _one_request(port: int, path: str) -> str:
    """One request on a new connection: ok, refused (never connected), or what went wrong."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except ConnectionRefusedError:
        return "refused"
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode())
        answer = await asyncio.wait_for(reader.read(), 10)
    except ConnectionResetError:
        return "reset after connecting"
    finally:
        writer.close()
    if not answer:
        return "closed without an answer"
    status = answer.split(b" ", 2)[1].decode()
    return "ok" if status == "200" else f"status {status}"


async def _client(port: int, path: str, outcomes: Counter[str]) -> None:
    while True:
        outcome = await _one_request(port, path)
        outcomes[outcome] += 1
        if outcome == "refused":
            return


async def _drain_under_reconnecting_clients(service: Service, path: str) -> Counter[str]:
    outcomes: Counter[str] = Counter()
    clients = [asyncio.create_task(_client(service.port, path, outcomes)) for _ in range(CLIENTS)]
    await asyncio.sleep(0.5)
    service.send_signal(signal.SIGTERM)
    signalled = time.monotonic()
    await asyncio.wait_for(asyncio.gather(*clients), DRAIN_DELAY + 10)
    assert await service.exited(within=DRAIN_DELAY + 5) == 0
    assert time.monotonic() - signalled >= DRAIN_DELAY
    return outcomes


@pytest.mark.parametrize("run", range(3))
async def test_connections_accepted_before_the_close_are_served_not_reset(
    services: ServiceGroup, database_url: str, db: Conn, run: int
) -> None:
    user_id = await db.fetchval(
        "INSERT INTO users (username, email) VALUES ('drained', 'd@x.org') RETURNING id"
    )
    service = services.start(
        clean_environ(DATABASE_URL=database_url, DRAIN_DELAY_SECONDS=str(DRAIN_DELAY))
    )
    service.wait_ready()
    outcomes = await _drain_under_reconnecting_clients(service, f"/users/{user_id}")
    print(f"\nrun {run}: {dict(outcomes)}")
    assert set(outcomes) == {"ok", "refused"}, outcomes
    assert outcomes["ok"] > 200


@pytest.mark.parametrize(
    ("host", "families"),
    [("127.0.0.1", ["AF_INET"]), ("::1", ["AF_INET6"]), ("", ["AF_INET", "AF_INET6"])],
)
def test_the_listener_binds_every_address_of_its_host(host: str, families: list[str]) -> None:
    """HOST as asyncio would bind it (an IPv6-only cluster sets `::`), on sockets of our own."""
    sockets = listener.listening_sockets(host, 0, 8)
    try:
        assert sorted(s.family.name for s in sockets) == families
    finally:
        for sock in sockets:
            sock.close()
