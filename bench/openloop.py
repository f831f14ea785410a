"""A fixed-rate (open-loop) load of a realistic mix, for the soak: wrk2's pacing in asyncio.

Debian's wrk is closed-loop: when the service slows down it sends less, so a soak with it would
not hold its rate. Here request i is due at start + i / rate whatever became of the ones before
it, and its latency counts from when it was due, not from when it could be sent (no coordinated
omission). In-flight requests are bounded by the rate times the request timeout.

The client keeps a fixed set of keep-alive connections, all opened before the clock starts, as
a proxy in front of the service would: aiohttp reuses its idle connections in turn, so one
opened in a burst would otherwise stay for good and look like a descriptor leak in the service.
"""

from __future__ import annotations

import asyncio
import json
import random
from array import array
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Literal

import aiohttp

# (kind, what the report calls it, share of requests in percent). Writes touch users the
# soak creates (DELETE) or only the email of seeded ones (PATCH), so GETs of seeded ids never
# 404 and no write collides with another.
MIX: tuple[tuple[str, str, int], ...] = (
    ("get", "GET /users/{id}", 75),
    ("list", "GET /users?limit=50", 5),
    ("deep", "GET /users?limit=50&cursor= (a deep page)", 5),
    ("post", "POST /users", 8),
    ("patch", "PATCH /users/{id} (email)", 5),
    ("delete", "DELETE /users/{id} (one the soak created)", 2),
)
_KINDS = [kind for kind, _, _ in MIX]
_WEIGHTS = [weight for _, _, weight in MIX]
REQUEST_TIMEOUT_SECONDS = 5.0  # wrk's --timeout in the other benchmarks
# Enough for a stall of a few hundred milliseconds at 300 req/s; later requests wait for one.
CONNECTIONS = 64

Outcome = Literal["sent", "ok", "http_errors", "socket_errors"]


@dataclass
class Tally:
    """Requests counted over one sample interval, or over the whole soak."""

    sent: int = 0
    ok: int = 0  # status < 400
    http_errors: int = 0  # status >= 400
    socket_errors: int = 0  # connection errors and timeouts
    latencies_ms: array[float] = field(default_factory=lambda: array("d"))

    @property
    def errors(self) -> int:
        return self.http_errors + self.socket_errors

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    api_key: str
    users: int  # seeded ids are 1..users
    deep_cursor: str
    tag: str  # keeps usernames and emails unique across runs


class OpenLoop:
    """Sends the mix at a fixed rate; the sampler takes the interval's tally as it goes."""

    def __init__(self, target: Target, rate: float, seed: int = 7) -> None:
        self._target = target
        self._rate = rate
        # Not for security: a reproducible sequence of kinds and ids.
        self._random = random.Random(seed)  # noqa: S311
        self._created: deque[int] = deque()
        self._writes = 0
        self._interval = Tally()
        self.total = Tally()
        self.sent_by_kind: Counter[str] = Counter()
        self.errors_by_kind: Counter[str] = Counter()
        self._crash: BaseException | None = None  # a bug in here, not a failed request
        self._session: aiohttp.ClientSession | None = None

    def take_interval(self) -> Tally:
        """What happened since the last call (requests are counted when they complete)."""
        interval, self._interval = self._interval, Tally()
        return interval

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[None]:
        """The client session with its CONNECTIONS keep-alive connections open."""
        async with aiohttp.ClientSession(
            base_url=self._target.url,
            headers={"Authorization": f"Bearer {self._target.api_key}"},
            connector=aiohttp.TCPConnector(limit=CONNECTIONS),
            timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS),
        ) as session:
            # As many requests at once as there are connections: each opens its own.
            await asyncio.gather(*(_probe(session) for _ in range(CONNECTIONS)))
            self._session = session
            try:
                yield
            finally:
                self._session = None

    async def run(self, start: float, seconds: float) -> None:
        """Sends every request due before start + seconds, then waits for the last answers."""
        session = self._session
        if session is None:
            raise RuntimeError("OpenLoop.run outside OpenLoop.connected()")
        loop = asyncio.get_running_loop()
        in_flight: set[asyncio.Task[None]] = set()
        due = start
        sent = 0
        while due < start + seconds:
            # Late (a GC pause, a busy CPU): send at once and catch up, as wrk2 does.
            await asyncio.sleep(max(0.0, due - loop.time()))
            task = asyncio.create_task(self._one(session, due))
            in_flight.add(task)
            task.add_done_callback(self._finished(in_flight))
            sent += 1
            due = start + sent / self._rate
        await asyncio.gather(*in_flight)
        if self._crash is not None:
            raise RuntimeError("the soak's load generator failed") from self._crash

    def _finished(self, in_flight: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
        """Forgets a finished request, keeping the first unexpected exception to raise later."""

        def forget(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            if self._crash is None and not task.cancelled():
                self._crash = task.exception()

        return forget

    async def _one(self, session: aiohttp.ClientSession, due: float) -> None:
        kind = self._next_kind()
        method, path, body = self._request(kind)
        self._count(kind, "sent")
        try:
            async with session.request(method, path, json=body) as response:
                status = response.status
                payload = await response.read()
        except (aiohttp.ClientError, TimeoutError):
            self._count(kind, "socket_errors")
            return
        latency_ms = 1000 * (asyncio.get_running_loop().time() - due)
        self._interval.latencies_ms.append(latency_ms)
        self.total.latencies_ms.append(latency_ms)
        if status >= 400:
            self._count(kind, "http_errors")
            return
        self._count(kind, "ok")
        if kind == "post":
            self._created.append(int(json.loads(payload)["id"]))

    def _next_kind(self) -> str:
        kind = self._random.choices(_KINDS, weights=_WEIGHTS)[0]
        if kind == "delete" and not self._created:
            return "post"  # nothing of ours to delete yet
        return kind

    def _request(self, kind: str) -> tuple[str, str, dict[str, str] | None]:
        target = self._target
        if kind == "get":
            return "GET", f"/users/{self._seeded_id()}", None
        if kind == "list":
            return "GET", "/users?limit=50", None
        if kind == "deep":
            return "GET", f"/users?limit=50&cursor={target.deep_cursor}", None
        if kind == "delete":
            return "DELETE", f"/users/{self._created.popleft()}", None
        self._writes += 1
        name = f"{target.tag}_{self._writes}"
        if kind == "patch":
            return "PATCH", f"/users/{self._seeded_id()}", {"email": f"{name}@soak.example"}
        return "POST", "/users", {"username": name, "email": f"{name}@soak.example"}

    def _seeded_id(self) -> int:
        return self._random.randint(1, self._target.users)

    def _count(self, kind: str, outcome: Outcome) -> None:
        self._interval.count(outcome)
        self.total.count(outcome)
        if outcome == "sent":
            self.sent_by_kind[kind] += 1
        elif outcome != "ok":
            self.errors_by_kind[kind] += 1


async def _probe(session: aiohttp.ClientSession) -> None:
    # /healthz: no database, no API key, and left out of the service's HTTP metrics.
    async with session.get("/healthz") as response:
        await response.read()
        response.raise_for_status()
