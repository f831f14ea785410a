"""A client that goes away while sending its body, or sends a malformed one, is the client's fault.

Such a request is counted under status 499 (nginx's "client closed request": no 5xx query
matches it), or 400 when the body's framing was malformed and the client is still there to read
the answer, and logged at INFO without a traceback. Anyone can send these at will: counted as
500s they would page whoever owns the 5xx-ratio alert.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.exposition import series
from tests.helpers import WRITE_KEY, Conn, base_environ
from tests.procs import Service, ServiceGroup, clean_environ

pytestmark = pytest.mark.slow

HEAD = (
    f"POST /users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {WRITE_KEY}\r\n"
    "Content-Type: application/json\r\n"
)
CHUNKED = HEAD + "Transfer-Encoding: chunked\r\n\r\n"
# Each sends its head, then once the handler is reading the body, part of a body; then it closes
# its side of the connection.
CUT_SHORT = {
    "content-length, body cut short": (HEAD + "Content-Length: 100\r\n\r\n", '{"username": '),
    "chunked, never terminated": (CHUNKED, '5\r\n{"use\r\n'),
    "malformed chunk size": (CHUNKED, '5\r\n{"use\r\nzz\r\n'),
}


async def _send_and_close(port: int, head: str, body: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head.encode())
    await writer.drain()
    await asyncio.sleep(0.1)  # the handler is now reading the body
    writer.write(body.encode())
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.write_eof()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    await writer.wait_closed()
    return answer


async def _statuses(service: Service) -> dict[str, float]:
    async with (
        aiohttp.ClientSession(service.base_url) as http,
        http.get("/metrics") as response,
    ):
        text = await response.text()
    counted: dict[str, float] = {}
    for labels, count in series(text, "user_service_http_requests_total").items():
        status = dict(labels)["status"]
        counted[status] = counted.get(status, 0) + count
    return counted


@pytest.fixture
def service(services: ServiceGroup, database_url: str, db: Conn) -> Service:
    """The real `serve` process: aiohttp's test server cancels handlers when a client goes
    away, which production does not do, so the fault shows only in a real one."""
    started = services.start(clean_environ(**base_environ(database_url, AUTH_DISABLED="false")))
    started.wait_ready()
    return started


@pytest.mark.parametrize(("head", "body"), CUT_SHORT.values(), ids=CUT_SHORT.keys())
async def test_a_body_cut_short_is_the_clients_not_a_server_error(
    service: Service, db: Conn, head: str, body: str
) -> None:
    answers = [await _send_and_close(service.port, head, body) for _ in range(3)]
    assert not [a for a in answers if a.startswith(b"HTTP/1.1 5")], answers
    await asyncio.sleep(0.2)  # the handlers finish after the connections closed

    statuses = await _statuses(service)
    first_lines = [a.partition(b"\r\n")[0] for a in answers]
    print(f"\nanswers {first_lines}; counted {statuses}")
    assert not any(s.startswith("5") for s in statuses), statuses
    assert statuses.get("499", 0) + statuses.get("400", 0) == 3, statuses
    lines = service.log_lines()
    assert [x for x in lines if x["level"] not in ("INFO", "DEBUG")] == []
    assert [x for x in lines if "exc_info" in x] == []
    gone = [x for x in lines if x["message"] == "client went away"]
    assert len(gone) == statuses.get("499", 0)
    assert all(x["request_id"] and x["path"] == "/users" for x in gone)
    access = [x for x in lines if x["logger"] == "service.access" and x["route"] == "/users"]
    assert sorted(x["status"] for x in access) == sorted(
        int(s) for s, n in statuses.items() for _ in range(int(n))
    )
    # Nothing was stored from a half-read body.
    assert await db.fetchval("SELECT count(*) FROM users") == 0
