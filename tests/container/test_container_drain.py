"""`docker stop` under keep-alive load: the container drains, exits 0, and no request fails.

The load stops sending new requests shortly after /readyz turns 503, as a Kubernetes Service
stops routing to a terminating pod once its endpoint is removed; DRAIN_DELAY_SECONDS is the
time the service keeps serving to cover that propagation.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
import pytest

from .conftest import ApiFactory
from .dockerctl import API_KEY, Docker

pytestmark = pytest.mark.container

DRAIN_DELAY = 3
SHUTDOWN_TIMEOUT = 5
STOP_TIMEOUT = DRAIN_DELAY + SHUTDOWN_TIMEOUT + 5  # docker stop -t: SIGKILL after this
PROPAGATION = 1.0  # seconds between readiness 503 and the "load balancer" stopping traffic
WORKERS = 8
# Half the workers list users, so every one of those requests is authenticated too.
AUTH = {"Authorization": f"Bearer {API_KEY}"}


@dataclass
class Load:
    ok: int = 0
    ok_after_sigterm: int = 0
    failures: list[str] = field(default_factory=list)
    sigterm_at: float | None = None
    stop_sending: asyncio.Event = field(default_factory=asyncio.Event)


async def worker(http: aiohttp.ClientSession, load: Load, path: str) -> None:
    while not load.stop_sending.is_set():
        try:
            async with http.get(path, headers=AUTH) as response:
                await response.read()
                if response.status != 200:
                    load.failures.append(f"{path}: {response.status}")
                    await asyncio.sleep(0.05)  # a failure must not turn into a busy loop
                    continue
        except (aiohttp.ClientError, TimeoutError) as exc:
            load.failures.append(f"{path}: {exc!r}")
            await asyncio.sleep(0.05)
            continue
        load.ok += 1
        if load.sigterm_at is not None:
            load.ok_after_sigterm += 1


async def balancer(base_url: str, load: Load) -> float:
    """Watch readiness on fresh connections; stop the traffic once it is 503, return when."""
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as probe:
        while True:
            async with probe.get(f"{base_url}/readyz") as response:
                if response.status == 503 and load.sigterm_at is not None:
                    seen = time.monotonic() - load.sigterm_at
                    await asyncio.sleep(PROPAGATION)
                    load.stop_sending.set()
                    return seen
            await asyncio.sleep(0.1)


@pytest.mark.asyncio
async def test_stop_under_keepalive_load_drains_and_exits_0(
    docker: Docker, start_api: ApiFactory
) -> None:
    api = await asyncio.to_thread(
        start_api,
        DRAIN_DELAY_SECONDS=str(DRAIN_DELAY),
        SHUTDOWN_TIMEOUT_SECONDS=str(SHUTDOWN_TIMEOUT),
    )
    load = Load()
    timeout = aiohttp.ClientTimeout(total=10)
    # One pooled keep-alive session: requests reuse connections, as a proxy's upstream pool does.
    async with aiohttp.ClientSession(api.base_url, timeout=timeout) as http:
        tasks = [
            asyncio.create_task(worker(http, load, "/users?limit=5" if i % 2 else "/healthz"))
            for i in range(WORKERS)
        ]
        watcher = asyncio.create_task(balancer(api.base_url, load))
        await asyncio.sleep(1.5)  # steady state first
        load.sigterm_at = time.monotonic()
        stop = await asyncio.create_subprocess_exec(
            docker.binary, "stop", "-t", str(STOP_TIMEOUT), api.container,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            readiness_503_after = await asyncio.wait_for(watcher, DRAIN_DELAY + 2)
            await asyncio.wait_for(asyncio.gather(*tasks), 10)
        finally:
            load.stop_sending.set()
        await asyncio.wait_for(stop.wait(), STOP_TIMEOUT + 5)
        stopped_after = time.monotonic() - load.sigterm_at

    state = (await asyncio.to_thread(docker.inspect, api.container))["State"]
    print(
        f"drain: {load.ok} ok ({load.ok_after_sigterm} after SIGTERM), "
        f"{len(load.failures)} failed, readiness 503 after {readiness_503_after:.2f}s, "
        f"stopped after {stopped_after:.2f}s, exit code {state['ExitCode']}"
    )
    assert load.failures == []
    assert state["ExitCode"] == 0, state
    assert stopped_after < STOP_TIMEOUT  # exited by itself, no SIGKILL
    assert readiness_503_after < 1.5  # readiness fails at once on SIGTERM (+ docker's latency)
    # ...and the process kept serving while endpoints drained, not exiting at once.
    assert load.ok_after_sigterm > 0
    assert stopped_after >= DRAIN_DELAY
