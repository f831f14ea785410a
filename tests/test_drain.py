"""SIGTERM under keep-alive load: the real process drains, drops no request it accepted, exits 0.

Times are compared across processes on the wall clock: the client notes time.time() around each
request, the service logs each shutdown phase with a millisecond UTC timestamp.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.helpers import Conn
from tests.procs import LogLine, Service, ServiceGroup, clean_environ, parse_timestamp

pytestmark = pytest.mark.slow

DRAIN_DELAY = 2.0
SHUTDOWN_TIMEOUT = 5.0
READERS, WRITERS = 6, 2
PROBE_INTERVAL = 0.1
# Log timestamps are truncated to the millisecond, and a phase starts just after its log line.
SLACK = 0.05


@dataclass
class Outcome:
    """One request as the client saw it. kind: ok, wrong (bad status or body), incomplete (a
    response cut short), refused (no TCP connection), dropped (connection lost, no response)."""

    kind: str
    sent: float
    done: float
    request_id: str
    closes: bool = False
    detail: str = ""


@dataclass
class Load:
    users: dict[int, dict[str, Any]]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def of(self, kind: str) -> list[Outcome]:
        return [o for o in self.outcomes if o.kind == kind]


async def call(
    http: aiohttp.ClientSession,
    method: str,
    path: str,
    expected: tuple[int, dict[str, Any]],
    **kw: Any,
) -> Outcome:
    """One request, classified; `expected` is the status and the fields the body must have."""
    request_id = uuid.uuid4().hex
    sent = time.time()

    def outcome(kind: str, closes: bool = False, detail: str = "") -> Outcome:
        return Outcome(kind, sent, time.time(), request_id, closes, detail)

    try:
        async with http.request(method, path, headers={"X-Request-ID": request_id}, **kw) as r:
            raw = await r.read()
            closes = r.headers.get("Connection", "").lower() == "close"
            status = r.status
    except aiohttp.ClientConnectorError as exc:
        return outcome("refused", detail=repr(exc))
    except aiohttp.ClientPayloadError as exc:
        return outcome("incomplete", detail=repr(exc))
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        return outcome("dropped", detail=repr(exc))
    except (aiohttp.ClientError, TimeoutError) as exc:
        return outcome("wrong", detail=repr(exc))
    want_status, want_fields = expected
    body = json.loads(raw) if raw else None
    good = (
        status == want_status
        and isinstance(body, dict)
        and all(body.get(k) == v for k, v in want_fields.items())
    )
    return outcome("ok" if good else "wrong", closes, "" if good else f"{status} {raw[:200]!r}")


async def reader(base_url: str, load: Load) -> None:
    async with aiohttp.ClientSession(base_url) as http:  # keep-alive, as a proxy's pool
        while not load.stop.is_set():
            user = random.choice(list(load.users.values()))
            result = await call(http, "GET", f"/users/{user['id']}", (200, user))
            load.outcomes.append(result)
            if result.kind != "ok":
                await asyncio.sleep(0.01)  # a refused connection must not become a busy loop


async def writer(base_url: str, load: Load) -> None:
    async with aiohttp.ClientSession(base_url) as http:
        while not load.stop.is_set():
            name = f"w{uuid.uuid4().hex[:12]}"
            fields = {"username": name, "email": f"{name}@example.com"}
            result = await call(http, "POST", "/users", (201, fields), json=fields)
            load.outcomes.append(result)
            if result.kind != "ok":
                await asyncio.sleep(0.01)


async def prober(base_url: str, load: Load) -> list[tuple[float, int]]:
    """/readyz every PROBE_INTERVAL on fresh connections, as a kubelet does."""
    seen: list[tuple[float, int]] = []
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(base_url, connector=connector) as http:
        while not load.stop.is_set():
            try:
                async with http.get("/readyz") as response:
                    seen.append((time.time(), response.status))
            except aiohttp.ClientConnectorError:
                seen.append((time.time(), 0))
            await asyncio.sleep(PROBE_INTERVAL)
    return seen


def logged(service: Service, message: str) -> LogLine:
    [line] = service.messages(message)
    return line


async def create_users(base_url: str, count: int) -> dict[int, dict[str, Any]]:
    users = {}
    async with aiohttp.ClientSession(base_url) as http:
        for i in range(count):
            body = {"username": f"seed{i:03d}", "email": f"seed{i}@example.com"}
            async with http.post("/users", json=body) as response:
                assert response.status == 201
                user = await response.json()
                users[user["id"]] = user
    return users


async def test_sigterm_under_keepalive_load_drains_without_dropping_accepted_requests(
    services: ServiceGroup, database_url: str, db: Conn
) -> None:
    service = services.start(
        clean_environ(
            DATABASE_URL=database_url,
            DRAIN_DELAY_SECONDS=str(DRAIN_DELAY),
            SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT),
        )
    )
    service.wait_ready()
    users = await create_users(service.base_url, 21)
    slow_user = users.pop(max(users))  # its row gets locked: readers leave it alone
    load = Load(users)
    tasks = [asyncio.create_task(reader(service.base_url, load)) for _ in range(READERS)]
    tasks += [asyncio.create_task(writer(service.base_url, load)) for _ in range(WRITERS)]
    probes = asyncio.create_task(prober(service.base_url, load))

    fields = {"username": "slowpoke", "email": "slow@example.com"}
    try:
        async with aiohttp.ClientSession(service.base_url) as slow_http:
            async with db.transaction():
                await db.execute("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", slow_user["id"])
                await asyncio.sleep(1.0)  # steady keep-alive load first
                sigterm_at = time.time()
                service.send_signal(signal.SIGTERM)

                # A PUT that must wait for our row lock, sent shortly before the listener closes.
                await asyncio.sleep(DRAIN_DELAY - 0.4)
                put = asyncio.create_task(
                    call(slow_http, "PUT", f"/users/{slow_user['id']}", (200, fields), json=fields)
                )
                while not await db.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
                    assert not put.done(), put.result()
                    await asyncio.sleep(0.01)
                put_waiting_at = time.time()
                await service.log_event(lambda x: x["message"].startswith("closing listener"), 5)
                await asyncio.sleep(0.5)  # in flight across the listener's close
            # The commit released the lock.
            slow = await asyncio.wait_for(put, 5)
        code = await service.exited(within=DRAIN_DELAY + SHUTDOWN_TIMEOUT + 3)
        exited_at = time.time()
    finally:
        load.stop.set()
        await asyncio.gather(*tasks, probes)
    readiness = probes.result()

    draining_at = parse_timestamp(logged(service, "draining: readiness now fails, still serving"))
    closed_at = parse_timestamp(logged(service, "closing listener, finishing in-flight requests"))
    stopped = logged(service, "stopped")
    access = [x for x in service.log_lines() if x["logger"] == "service.access"]
    answered = {x["request_id"] for x in access}

    ok = load.of("ok")
    served_in_drain = [o for o in ok if o.sent >= sigterm_at and o.done <= closed_at]
    refused, dropped = load.of("refused"), load.of("dropped")
    first_503 = min(
        (t for t, status in readiness if t >= sigterm_at and status == 503), default=math.inf
    )
    print(
        f"\ndrain: {len(ok)} ok, {len(served_in_drain)} served during the {DRAIN_DELAY} s drain "
        f"delay; failures: {len(load.of('wrong'))} wrong, {len(load.of('incomplete'))} "
        f"incomplete; turned away after the listener closed: {len(refused)} refused, "
        f"{len(dropped)} dropped unanswered; readiness 503 after {first_503 - sigterm_at:.3f} s; "
        f"listener closed after {closed_at - sigterm_at:.3f} s; exit {code} after "
        f"{exited_at - sigterm_at:.3f} s; slow PUT {slow.done - slow.sent:.3f} s"
    )

    # Every response was complete and correct.
    assert load.of("wrong") == [] and load.of("incomplete") == []
    assert {o.request_id for o in ok} <= answered
    # The service wrote out every response it produced, each once: the client never had to
    # retry a request whose response was lost (aiohttp silently retries idempotent ones once).
    assert [x for x in access if x["response_bytes"] == 0] == []
    assert len(answered) == len(access)
    # Nothing failed before the listener closed; after it, connections are turned away, and a
    # connection lost then carried a request the service never began (it is not in its log).
    assert all(o.done >= closed_at - SLACK for o in refused + dropped), refused + dropped
    assert not {o.request_id for o in dropped} & answered
    # Readiness failed at once, while requests kept succeeding until the listener closed.
    assert all(status == 200 for t, status in readiness if t < sigterm_at)
    assert first_503 - sigterm_at < 3 * PROBE_INTERVAL + 0.2
    assert draining_at - sigterm_at < 0.2
    assert closed_at - sigterm_at >= DRAIN_DELAY
    assert len(served_in_drain) >= 50
    # Keep-alive in the steady state; `Connection: close` on everything answered in the drain.
    assert any(not o.closes for o in ok if o.done < sigterm_at)
    assert all(o.closes for o in ok if o.sent >= draining_at + SLACK)
    # The slow request was accepted before the close and still completed after it.
    assert put_waiting_at < closed_at
    assert slow.kind == "ok", slow
    assert slow.closes
    assert slow.done > closed_at + 0.4
    # And the process exited 0 by itself, within the drain delay plus the shutdown timeout.
    assert code == 0
    assert DRAIN_DELAY <= exited_at - sigterm_at < DRAIN_DELAY + SHUTDOWN_TIMEOUT + 1
    assert stopped["elapsed_seconds"] < DRAIN_DELAY + SHUTDOWN_TIMEOUT
    # Nothing else held the exit: it came right after the last request finished.
    assert exited_at - slow.done < 1.0
    phases = [x["message"] for x in service.log_lines() if x.get("logger") == "service.server"]
    assert phases[-4:] == [
        "shutdown requested",
        "draining: readiness now fails, still serving",
        "closing listener, finishing in-flight requests",
        "stopped",
    ]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
async def test_one_signal_drains_then_exits_0(
    services: ServiceGroup, database_url: str, signum: signal.Signals
) -> None:
    drain = 1.0
    service = services.start(
        clean_environ(DATABASE_URL=database_url, DRAIN_DELAY_SECONDS=str(drain))
    )
    service.wait_ready()
    async with aiohttp.ClientSession(service.base_url) as http:
        async with http.get("/users?limit=1") as before:
            assert before.status == 200 and "Connection" not in before.headers
        signalled = time.monotonic()
        service.send_signal(signum)
        await service.log_event(lambda x: x["message"].startswith("draining"), 2)
        async with http.get("/readyz") as ready:
            assert ready.status == 503
        async with http.get("/users?limit=1") as during:
            assert during.status == 200
            assert during.headers["Connection"] == "close"
    assert await service.exited(within=drain + 5) == 0
    assert time.monotonic() - signalled >= drain
    assert logged(service, "shutdown requested")["signal"] == signum.name


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (signal.SIGTERM, signal.SIGTERM),
        (signal.SIGINT, signal.SIGINT),
        (signal.SIGTERM, signal.SIGINT),
    ],
    ids=lambda s: s.name,
)
async def test_a_second_signal_during_the_drain_exits_at_once_with_failure(
    services: ServiceGroup, database_url: str, first: signal.Signals, second: signal.Signals
) -> None:
    service = services.start(clean_environ(DATABASE_URL=database_url, DRAIN_DELAY_SECONDS="30"))
    service.wait_ready()
    service.send_signal(first)
    await service.log_event(lambda x: x["message"].startswith("draining"), 2)
    signalled = time.monotonic()
    service.send_signal(second)
    code = await service.exited(within=5)
    assert time.monotonic() - signalled < 1.5
    assert code == 1
    assert logged(service, "second signal: exiting now")["signal"] == second.name
    assert service.stderr() == ""
