"""Scenario 4, database restart: the PostgreSQL pod is deleted and started again on its claim;
the app replicas notice (the combined /health) and answer 503 with Retry-After meanwhile, but stay
ready, so the Service keeps endpoints that answer; they recover by themselves (no restart:
liveness never asks the database), and nothing written before the stop is lost."""

from __future__ import annotations

import asyncio
import secrets
import time

import aiohttp
import pytest

from .kubelet import Pod
from .release import Release, record

pytestmark = pytest.mark.pods

USERS = 20


async def test_database_restart_keeps_data_and_replicas_recover_alone(release: Release) -> None:
    assert release.db is not None
    prefix = f"pods-db-{secrets.token_hex(3)}"
    async with release.client() as http:
        users = []
        for i in range(USERS):
            body = {"username": f"{prefix}-{i}", "email": f"{prefix}-{i}@x.org"}
            async with http.post(f"{release.api[i % 2].url}/users", json=body) as created:
                assert created.status == 201, await created.text()
                users.append(await created.json())

        readiness_seen: set[bool] = set()
        watching = asyncio.create_task(_watch_readiness(release.api, readiness_seen))
        began = time.monotonic()
        termination = await asyncio.to_thread(release.db.stop)
        await asyncio.gather(*(_wait_for_health(http, pod, 503, 30) for pod in release.api))
        noticed_s = round(time.monotonic() - began, 2)
        async with http.get(f"{release.api[0].url}/users/{users[0]['id']}") as during:
            status_during = during.status
            retry_after = during.headers.get("Retry-After")
        assert (status_during, retry_after) == (503, "1"), await during.text()

        release.db = await asyncio.to_thread(release.start_db_pod)
        await asyncio.to_thread(release.db.wait_ready, 120)
        db_ready_s = round(time.monotonic() - began, 2)
        await asyncio.gather(*(_wait_for_health(http, pod, 200, 60) for pod in release.api))
        api_back_s = round(time.monotonic() - began, 2)
        watching.cancel()

        for i, user in enumerate(users):
            async with http.get(f"{release.api[(i + 1) % 2].url}/users/{user['id']}") as read:
                assert (read.status, await read.json()) == (200, user)

    assert termination.exit_code == 0 and not termination.killed, termination
    assert termination.signal == "SIGINT"  # the image's STOPSIGNAL: PostgreSQL's fast shutdown
    assert "init process complete" not in release.db.logs()  # the claim's data, no new initdb
    assert [pod.restarts for pod in release.api] == [0] * len(release.api)
    assert readiness_seen == {True}  # every replica stayed in the Service throughout
    record(
        "4 database restart",
        users_written=USERS,
        users_read_back=len(users),
        db_stop_s=termination.total_seconds,
        api_noticed_after_s=noticed_s,
        status_during_outage=status_during,
        api_ready_throughout=readiness_seen == {True},
        db_ready_after_s=db_ready_s,
        api_serving_again_after_s=api_back_s,
        api_restarts=[pod.restarts for pod in release.api],
    )


async def _watch_readiness(pods: list[Pod], seen: set[bool]) -> None:
    while True:
        seen.update(pod.ready for pod in pods)
        await asyncio.sleep(0.1)


async def _wait_for_health(
    http: aiohttp.ClientSession, pod: Pod, status: int, within: float
) -> None:
    """Until the combined /health, which reports the database, answers `status`."""
    deadline = time.monotonic() + within
    while True:
        async with http.get(f"{pod.url}/health") as response:
            if response.status == status:
                return
        assert time.monotonic() < deadline, f"{pod}: /health not {status} after {within} s"
        await asyncio.sleep(0.1)
