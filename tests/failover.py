"""Failover, measured: a primary and a streaming standby, the primary killed under write load.

Two embedded PostgreSQL servers on loopback in streaming replication (`pg_basebackup -R`), a
PgBouncer in transaction mode in front of the primary (the stand-in for CloudNativePG's Pooler
behind its `-rw` Service), and one `python -m service serve` through it with
DB_TRANSACTION_POOLING=true. Workers write (mostly POST /users with unique usernames, some GET
and PUT of their own users) and record every answer; a poller reads /readyz and /health every
100 ms. Then, mid-run:

1. optionally the replication stalls for `stall` seconds (the primary's walsender SIGSTOPped: a
   standby that fell behind, as a slow network or a busy disk makes one; on an idle loopback
   the standby trails by a millisecond and an asynchronous failover rarely loses anything);
2. the primary's whole process group gets SIGKILL (the machine is gone: no shutdown);
3. `promote_after` seconds later (an operator's failure detection) the standby is promoted
   (`pg_ctl promote`), and PgBouncer is pointed at it (RELOAD by SIGHUP: what moving the `-rw`
   Service's endpoint does for the Pooler);
4. the load goes on for the rest of `after_kill` seconds.

Afterwards every write that got a 201 is looked up on the new primary by id and username. The
CI test is tests/test_failover.py; `make failover` runs more and longer rounds of this module
(`python -m tests.failover --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import aiohttp
import asyncpg

from service.devdb import EmbeddedPostgres
from service.devpooler import PgBouncer
from service.migrations import AppRole, apply_migrations, load_migrations
from tests.procs import Service, ServiceGroup, clean_environ

Mode = Literal["sync", "async"]
MODES: tuple[Mode, ...] = ("sync", "async")
# How the dead primary's address behaves: "refuses" (a killed process on a live host: the
# kernel answers RST at once), or "silent" (a host that is gone, or a partition: connections
# are accepted by nobody and nothing ever answers; here a socket that listens and never
# accepts).
DeadServer = Literal["refuses", "silent"]
# Answers a write-heavy client may get across a failover. 404 only for a user whose creation the
# failover lost (asynchronous replication): checked against the lost writes afterwards.
EXPECTED_STATUSES = frozenset({200, 201, 409, 503})
NO_ANSWER = 0  # the status recorded when no HTTP answer came (connection error, client timeout)
APP_ROLE = "app"
# Speed over durability on disk: the servers are killed as processes, never as machines, so what
# reached the kernel survives (fsync off), and what is measured is replication, not the disk.
COMMON_SETTINGS = {"fsync": "off", "full_page_writes": "off"}
# Config.latency_bound's allowance for the HTTP exchange and the scheduling of a service, two
# PostgreSQL servers, PgBouncer and the load on a shared 2-core CI machine: 10 times the
# slowest answer seen outside the switch.
LATENCY_SLACK = 0.5


@dataclass(frozen=True)
class Config:
    mode: Mode
    workers: int = 16
    before_kill: float = 4.0  # seconds of load before the primary dies
    after_kill: float = 8.0  # seconds of load from the kill on
    stall: float = 1.0  # replication stalled this long right before the kill (0: none)
    promote_after: float = 1.0  # from the kill to the promotion and the address moving
    dead_server: DeadServer = "refuses"
    # Move the address to the standby before promoting it (an endpoint or a DNS answer that runs
    # ahead of the promotion): writes then meet a read-only server for a moment.
    move_before_promote: bool = False
    request_timeout: float = 3.0  # DB_REQUEST_TIMEOUT_SECONDS
    acquire_timeout: float = 1.0  # DB_ACQUIRE_TIMEOUT_SECONDS
    pool_max_size: int = 10
    probe_interval: float = 0.1
    bouncer_settings: tuple[tuple[str, str], ...] = ()  # PgBouncer settings beyond its defaults

    @property
    def client_timeout(self) -> float:
        """The load's own timeout: far above the service's bound, so a hang shows as one."""
        return self.request_timeout + 10

    @property
    def latency_bound(self) -> float:
        """The longest a request may take: DB_REQUEST_TIMEOUT_SECONDS, then the release of a
        connection whose query the deadline cancelled, which asyncpg lets wait for the
        cancellation up to the acquire timeout (DB_ACQUIRE_TIMEOUT_SECONDS), then
        LATENCY_SLACK for the HTTP exchange and scheduling on a busy CI machine."""
        return self.request_timeout + self.acquire_timeout + LATENCY_SLACK


@dataclass(frozen=True, slots=True)
class Answer:
    kind: str  # create, read, update
    started: float  # seconds since the load started
    ended: float
    status: int  # NO_ANSWER when there was none
    retry_after: str | None
    user_id: int | None  # the created/read/updated user
    username: str | None
    error: str | None = None  # why there was no answer

    @property
    def latency(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True, slots=True)
class Probe:
    path: str
    at: float
    status: int
    database: str  # the database check the body reports ("ok", or why not)


@dataclass
class Round:
    config: Config
    answers: list[Answer] = field(default_factory=list)
    probes: list[Probe] = field(default_factory=list)
    stalled_at: float | None = None
    killed_at: float = 0.0
    promoted_at: float = 0.0
    moved_at: float = 0.0
    load_ended: float = 0.0
    lost: list[Answer] = field(default_factory=list)  # 201s missing from the new primary
    ambiguous_committed: int = 0  # creations answered otherwise that committed all the same
    service_pid_before: int = 0
    service_pid_after: int | None = None
    service_starts: int = 0
    service_errors: list[str] = field(default_factory=list)  # ERROR and CRITICAL lines
    pool_floor_warnings: int = 0
    unavailable_reasons: Counter[str] = field(default_factory=Counter)
    replication: str = ""  # pg_stat_replication's state and sync_state before the load

    # -- figures ---------------------------------------------------------------------------

    def statuses(self) -> Counter[int]:
        return Counter(a.status for a in self.answers)

    def created(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 201]

    def unexpected(self) -> list[Answer]:
        """Answers outside EXPECTED_STATUSES, but for a 404 about a user the failover lost."""
        lost_ids = {a.user_id for a in self.lost}
        return [
            a
            for a in self.answers
            if a.status not in EXPECTED_STATUSES and not (a.status == 404 and a.user_id in lost_ids)
        ]

    def without_retry_after(self) -> list[Answer]:
        return [a for a in self.answers if a.status == 503 and not a.retry_after]

    def max_latency(self) -> float:
        return max((a.latency for a in self.answers), default=0.0)

    def first_success_after_kill(self) -> float | None:
        """Seconds from the kill to the end of the first 2xx of a request sent after it."""
        ends = [
            a.ended for a in self.answers if a.started >= self.killed_at and 200 <= a.status < 300
        ]
        return min(ends) - self.killed_at if ends else None

    def first_write_after_kill(self) -> float | None:
        ends = [a.ended for a in self.answers if a.started >= self.killed_at and a.status == 201]
        return min(ends) - self.killed_at if ends else None

    def writes_after_switch(self) -> int:
        return sum(1 for a in self.answers if a.started >= self.moved_at and a.status == 201)

    def down_intervals(self, path: str) -> list[tuple[float, float]]:
        """Spans during which `path` answered anything but 200 (up to the next 200)."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        for probe in (p for p in self.probes if p.path == path):
            if probe.status != 200 and start is None:
                start = probe.at
            elif probe.status == 200 and start is not None:
                spans.append((start, probe.at))
                start = None
        if start is not None:
            spans.append((start, self.load_ended))
        return spans

    def database_down_intervals(self) -> list[tuple[float, float]]:
        """Spans during which /readyz's body reported the database check failing."""
        spans: list[tuple[float, float]] = []
        start: float | None = None
        for probe in (p for p in self.probes if p.path == "/readyz"):
            if probe.database != "ok" and start is None:
                start = probe.at
            elif probe.database == "ok" and start is not None:
                spans.append((start, probe.at))
                start = None
        if start is not None:
            spans.append((start, self.load_ended))
        return spans

    def seconds_unready(self) -> float:
        """How long the service reported its database away (/health 503)."""
        return sum(end - start for start, end in self.down_intervals("/health"))

    def figures(self) -> dict[str, Any]:
        statuses = self.statuses()
        first = self.first_success_after_kill()
        return {
            "mode": self.config.mode,
            "seconds_unready": round(self.seconds_unready(), 2),
            "readyz_503": sum(1 for p in self.probes if p.path == "/readyz" and p.status != 200),
            "answers": len(self.answers),
            "n201": statuses[201],
            "n503": statuses[503],
            "lost": len(self.lost),
            "ambiguous_committed": self.ambiguous_committed,
            "kill_to_first_2xx": None if first is None else round(first, 2),
            "max_latency": round(self.max_latency(), 2),
            "statuses": {str(k): v for k, v in sorted(statuses.items())},
        }

    def summary(self) -> str:
        f = self.figures()
        first = f["kill_to_first_2xx"]
        return (
            f"failover {f['mode']}: unready (/health 503) {f['seconds_unready']:.2f} s, "
            f"503s {f['n503']}, 201s {f['n201']}, acknowledged writes lost {f['lost']}, "
            f"kill to first 2xx {'never' if first is None else f'{first:.2f} s'}, "
            f"max latency {f['max_latency']:.2f} s, statuses {f['statuses']}, "
            f"committed though not acknowledged {f['ambiguous_committed']}"
        )

    def timeline(self) -> str:
        stalled = "" if self.stalled_at is None else f"stalled {self.stalled_at:.2f}, "
        return (
            f"{stalled}killed {self.killed_at:.2f}, promoted {self.promoted_at:.2f}, "
            f"moved {self.moved_at:.2f}, load ended {self.load_ended:.2f} (s since load start); "
            f"/health down {_spans(self.down_intervals('/health'))}, "
            f"/readyz down {_spans(self.down_intervals('/readyz'))}, "
            f"/readyz database check failing {_spans(self.database_down_intervals())}; "
            f"503 reasons {dict(self.unavailable_reasons.most_common(8))}; "
            f"service log: {len(self.service_errors)} ERROR lines, "
            f"{self.pool_floor_warnings} asyncpg pool warnings with a traceback"
        )


def _spans(spans: list[tuple[float, float]]) -> str:
    return "[" + ", ".join(f"{a:.2f}-{b:.2f}" for a, b in spans) + "]"


# -- the servers -------------------------------------------------------------------------------


async def _prepare_primary(primary: EmbeddedPostgres, app_password: str) -> None:
    """The schema, and the app role the service connects as, as `migrate` makes them."""
    conn = await asyncpg.connect(primary.dsn())
    try:
        await apply_migrations(conn, load_migrations(), AppRole(APP_ROLE, app_password))
    finally:
        await conn.close()


async def _wait_streaming(primary: EmbeddedPostgres, sync_state: str, within: float) -> str:
    """Waits until the primary streams to its standby in the intended mode."""
    deadline = time.monotonic() + within
    conn = await asyncpg.connect(primary.dsn())
    try:
        while True:
            rows = await conn.fetch("SELECT state, sync_state FROM pg_stat_replication")
            seen = [(r["state"], r["sync_state"]) for r in rows]
            if seen == [("streaming", sync_state)]:
                return f"state streaming, sync_state {sync_state}"
            if time.monotonic() > deadline:
                raise RuntimeError(f"standby not streaming ({sync_state}) in {within} s: {seen}")
            await asyncio.sleep(0.1)
    finally:
        await conn.close()


async def _require_synchronous_standby(primary: EmbeddedPostgres) -> None:
    conn = await asyncpg.connect(primary.dsn())
    try:
        await conn.execute("ALTER SYSTEM SET synchronous_standby_names = '*'")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def _walsender_pids(primary: EmbeddedPostgres) -> list[int]:
    conn = await asyncpg.connect(primary.dsn())
    try:
        return [r["pid"] for r in await conn.fetch("SELECT pid FROM pg_stat_replication")]
    finally:
        await conn.close()


@dataclass
class Cluster:
    """The servers of one round, the service among them; torn down in reverse order."""

    primary: EmbeddedPostgres
    standby: EmbeddedPostgres
    bouncer: PgBouncer
    service: Service
    replication: str


@contextlib.contextmanager
def cluster(
    config: Config, directory: Path, *, address_at_standby: bool = False
) -> Iterator[Cluster]:
    """Primary, streaming standby, PgBouncer (in front of the primary; of the standby with
    `address_at_standby`) and the service, all stopped and deleted afterwards."""
    sync = config.mode == "sync"
    # synchronous_commit stays on (CloudNativePG's default): a commit returns once the primary
    # has its WAL, and in sync mode (synchronous_standby_names, set once the standby streams:
    # until then every commit would wait) once the standby has it on its disk too.
    primary = EmbeddedPostgres(settings={**COMMON_SETTINGS, "synchronous_commit": "on"})
    # Promoted, it runs alone: requiring a synchronous standby then would block every write
    # (CloudNativePG relaxes its list the same way when no standby is left, dataDurability
    # "preferred").
    standby = EmbeddedPostgres(settings={**COMMON_SETTINGS, "synchronous_standby_names": ""})
    app_password = uuid.uuid4().hex
    bouncer: PgBouncer | None = None
    group = ServiceGroup(directory)
    try:
        primary.start()
        asyncio.run(_prepare_primary(primary, app_password))
        standby.make_standby_of(primary)
        standby.start()
        if sync:
            asyncio.run(_require_synchronous_standby(primary))
        replication = asyncio.run(_wait_streaming(primary, "sync" if sync else "async", 30))
        bouncer = PgBouncer(
            standby.port if address_at_standby else primary.port,
            auth_user=primary.user,
            auth_password=primary.password,
            extra=dict(config.bouncer_settings),
        )
        bouncer.start()
        service = group.start(
            clean_environ(
                DATABASE_URL=bouncer.dsn(APP_ROLE, app_password),
                DB_TRANSACTION_POOLING="true",
                DB_REQUEST_TIMEOUT_SECONDS=f"{config.request_timeout:g}",
                DB_ACQUIRE_TIMEOUT_SECONDS=f"{config.acquire_timeout:g}",
                DB_POOL_MAX_SIZE=str(config.pool_max_size),
            )
        )
        service.wait_ready()
        yield Cluster(primary, standby, bouncer, service, replication)
    finally:
        group.stop_all()
        if bouncer is not None:
            bouncer.cleanup()
        standby.cleanup()
        primary.cleanup()


# -- the load ----------------------------------------------------------------------------------


class Load:
    def __init__(self, http: aiohttp.ClientSession, config: Config, t0: float) -> None:
        self._http = http
        self._config = config
        self._t0 = t0
        self.answers: list[Answer] = []
        self.probes: list[Probe] = []
        self.stop = asyncio.Event()

    def now(self) -> float:
        return time.monotonic() - self._t0

    async def _request(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        body: dict[str, str] | None = None,
        user_id: int | None = None,
        username: str | None = None,
    ) -> Answer:
        started = self.now()
        try:
            async with self._http.request(method, path, json=body) as response:
                payload = await response.read()
                status, retry_after = response.status, response.headers.get("Retry-After")
        except (aiohttp.ClientError, TimeoutError) as exc:
            answer = Answer(
                kind, started, self.now(), NO_ANSWER, None, user_id, username, repr(exc)
            )
        else:
            if status == 201:
                user_id = int(json.loads(payload)["id"])
            answer = Answer(kind, started, self.now(), status, retry_after, user_id, username)
        self.answers.append(answer)
        return answer

    async def worker(self, seed: int) -> None:
        rng = random.Random(seed)  # a load mix, not a secret
        mine: list[tuple[int, str]] = []  # users this worker created
        while not self.stop.is_set():
            roll = rng.random()
            if mine and roll < 0.15:
                user_id, name = rng.choice(mine)
                await self._request(
                    "read", "GET", f"/users/{user_id}", user_id=user_id, username=name
                )
            elif mine and roll < 0.3:
                user_id, name = rng.choice(mine)
                body = {"username": name, "email": f"{name}.{uuid.uuid4().hex[:8]}@example.com"}
                await self._request(
                    "update", "PUT", f"/users/{user_id}", body=body, user_id=user_id, username=name
                )
            else:
                name = f"f{uuid.uuid4().hex[:16]}"
                body = {"username": name, "email": f"{name}@example.com"}
                answer = await self._request("create", "POST", "/users", body=body, username=name)
                if answer.status == 201 and answer.user_id is not None:
                    mine.append((answer.user_id, name))

    async def poller(self) -> None:
        timeout = aiohttp.ClientTimeout(total=2)
        while not self.stop.is_set():
            for path in ("/readyz", "/health"):
                at = self.now()
                try:
                    async with self._http.get(path, timeout=timeout) as response:
                        body = await response.json()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    self.probes.append(Probe(path, at, NO_ANSWER, repr(exc)))
                    continue
                database = (
                    body["checks"]["database"] if path == "/readyz" else str(body["database"])
                )
                if path == "/health" and database == "connected":
                    database = "ok"
                self.probes.append(Probe(path, at, status, database))
            await asyncio.sleep(self._config.probe_interval)


async def _drive(c: Cluster, config: Config, result: Round) -> None:
    """The load, and the failover in the middle of it."""
    silent: socket.socket | None = None
    timeout = aiohttp.ClientTimeout(total=config.client_timeout)
    connector = aiohttp.TCPConnector(limit=config.workers + 4)
    async with aiohttp.ClientSession(
        c.service.base_url, timeout=timeout, connector=connector
    ) as http:
        load = Load(http, config, time.monotonic())
        tasks = [asyncio.create_task(load.worker(n)) for n in range(config.workers)]
        tasks.append(asyncio.create_task(load.poller()))
        try:
            await asyncio.sleep(config.before_kill - config.stall)
            if config.stall > 0:
                pids = await _walsender_pids(c.primary)
                for pid in pids:
                    os.kill(pid, signal.SIGSTOP)
                result.stalled_at = load.now()
                await asyncio.sleep(config.stall)
            await asyncio.to_thread(c.primary.kill)
            result.killed_at = load.now()
            if config.dead_server == "silent":
                silent = _silent_listener(c.primary.port)
            await asyncio.sleep(config.promote_after)
            if config.move_before_promote:
                c.bouncer.point_at(c.standby.port)
                result.moved_at = load.now()
                await asyncio.sleep(0.5)
            await asyncio.to_thread(c.standby.promote)
            result.promoted_at = load.now()
            if not config.move_before_promote:
                c.bouncer.point_at(c.standby.port)
                result.moved_at = load.now()
            await asyncio.sleep(max(0.0, result.killed_at + config.after_kill - load.now()))
        finally:
            load.stop.set()
            await asyncio.gather(*tasks)
            if silent is not None:
                silent.close()
        result.load_ended = load.now()
        result.answers, result.probes = load.answers, load.probes


def _silent_listener(port: int) -> socket.socket:
    """Takes the dead server's port and never answers: TCP handshakes complete in the backlog,
    then nothing (PgBouncer waits out server_connect_timeout)."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(4096)
    return listener


async def _check_writes(standby: EmbeddedPostgres, result: Round) -> None:
    """Looks every acknowledged creation up on the new primary, by id and username."""
    conn = await asyncpg.connect(standby.dsn())
    try:
        rows = await conn.fetch("SELECT id, username FROM users")
    finally:
        await conn.close()
    present = {(r["id"], r["username"]) for r in rows}
    usernames = {r["username"] for r in rows}
    result.lost = [a for a in result.created() if (a.user_id, a.username) not in present]
    result.ambiguous_committed = sum(
        1
        for a in result.answers
        if a.kind == "create" and a.status != 201 and a.username in usernames
    )


def run_round(config: Config, directory: Path) -> Round:
    """One failover from set-up to teardown; the figures in the returned Round."""
    result = Round(config)
    with cluster(config, directory) as c:
        result.replication = c.replication
        result.service_pid_before = c.service.pid
        asyncio.run(_drive(c, config, result))
        asyncio.run(_check_writes(c.standby, result))
        result.service_pid_after = c.service.pid if c.service.process.poll() is None else None
        lines = c.service.log_lines()
        result.service_starts = sum(1 for x in lines if x.get("message") == "starting")
        # asyncpg's pool logs a WARNING with a traceback each time it fails to reopen its
        # floor of connections while the database is away: noise, not a failure. (ERROR lines
        # are kept, the test looks for "unhandled error" among them.)
        result.service_errors = [
            json.dumps(x) for x in lines if x.get("level") in ("ERROR", "CRITICAL")
        ]
        result.pool_floor_warnings = sum(
            1 for x in lines if x.get("logger") == "asyncpg.pool" and "exc_info" in x
        )
        result.unavailable_reasons = Counter(
            str(x.get("reason")) for x in lines if x.get("message") == "database unavailable"
        )
        stderr = c.service.stderr()
        if stderr:
            result.service_errors.append("stderr: " + stderr[-2000:])
    return result


# -- `make failover` ---------------------------------------------------------------------------


def _spread(values: list[float]) -> str:
    if not values:
        return "-"
    # Counts as counts, seconds to the hundredth.
    spec = ".0f" if all(float(v).is_integer() for v in values) else ".2f"
    low, mid, high = min(values), statistics.median(values), max(values)
    return f"min {low:{spec}} / median {mid:{spec}} / max {high:{spec}}"


def _report(mode: Mode, rounds: list[Round]) -> None:
    print(f"\n{mode}: {len(rounds)} rounds")
    columns = {
        "seconds unready": [r.seconds_unready() for r in rounds],
        "503s": [float(r.statuses()[503]) for r in rounds],
        "201s": [float(len(r.created())) for r in rounds],
        "acknowledged writes lost": [float(len(r.lost)) for r in rounds],
        "kill to first 2xx (s)": [
            x for r in rounds if (x := r.first_success_after_kill()) is not None
        ],
        "max latency (s)": [r.max_latency() for r in rounds],
    }
    for name, values in columns.items():
        print(f"  {name:26} {_spread(values)}")


def problems(result: Round) -> list[str]:
    """What the test asserts, as sentences (empty when the round kept every promise)."""
    found = []
    bound = result.config.latency_bound
    if unexpected := result.unexpected():
        found.append(f"unexpected answers: {Counter(a.status for a in unexpected)}")
    if missing := result.without_retry_after():
        found.append(f"{len(missing)} 503s without Retry-After")
    if result.max_latency() > bound:
        found.append(f"a request took {result.max_latency():.2f} s (bound {bound:g} s)")
    if not result.down_intervals("/health"):
        found.append("/health never reported the database away")
    if result.probes and result.probes[-1].status != 200:
        found.append("the service did not come back")
    if result.service_pid_after != result.service_pid_before or result.service_starts != 1:
        found.append("the service restarted")
    if result.writes_after_switch() == 0:
        found.append("no write succeeded after the switch")
    if result.config.mode == "sync" and result.lost:
        found.append(f"{len(result.lost)} acknowledged writes lost with synchronous replication")
    if unhandled := [x for x in result.service_errors if "unhandled error" in x]:
        found.append(f"unhandled errors: {unhandled[:3]}")
    return found


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals:
        raise SystemExit(f"--bouncer {text!r}: expected NAME=VALUE")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.failover", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5, help="rounds per mode (default 5)")
    parser.add_argument("--modes", default="sync,async", help="sync, async or both")
    parser.add_argument("--before", type=float, default=10.0, help="seconds of load before")
    parser.add_argument("--after", type=float, default=20.0, help="seconds of load from the kill")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--stall", type=float, default=1.0, help="replication stall (s)")
    parser.add_argument("--promote-after", type=float, default=1.0)
    parser.add_argument("--dead-server", choices=["refuses", "silent"], default="refuses")
    parser.add_argument("--move-before-promote", action="store_true")
    parser.add_argument(
        "--bouncer",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a PgBouncer setting (repeatable), e.g. server_login_retry=15 (PgBouncer's default)",
    )
    args = parser.parse_args(argv)
    modes = [m for m in MODES if m in args.modes.split(",")]
    failed = 0
    by_mode: dict[Mode, list[Round]] = {}
    for mode in modes:
        config = Config(
            mode,
            workers=args.workers,
            before_kill=args.before,
            after_kill=args.after,
            stall=args.stall,
            promote_after=args.promote_after,
            dead_server=args.dead_server,
            move_before_promote=args.move_before_promote,
            bouncer_settings=tuple(_setting(x) for x in args.bouncer),
        )
        for n in range(args.rounds):
            with tempfile.TemporaryDirectory(prefix="user-service-failover-") as directory:
                result = run_round(config, Path(directory))
            by_mode.setdefault(mode, []).append(result)
            print(f"round {n + 1}: {result.summary()}", flush=True)
            print(f"  {result.timeline()}", flush=True)
            for problem in problems(result):
                failed += 1
                print(f"  PROBLEM: {problem}", flush=True)
    for mode, rounds in by_mode.items():
        _report(mode, rounds)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
