"""Scenario 4, database restart: the PostgreSQL pod is deleted and started again on its claim;
the app replicas turn unready and ready again by themselves (no restart: liveness never asks the
database), and nothing written before the stop is lost."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest

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

        began = time.monotonic()
        termination = await asyncio.to_thread(release.db.stop)
        unready = await asyncio.gather(
            *(asyncio.to_thread(pod.wait_unready, 30) for pod in release.api)
        )
        unready_s = round(time.monotonic() - began, 2)
        async with http.get(f"{release.api[0].url}/users/{users[0]['id']}") as during:
            status_during = during.status
        assert status_during == 503, await during.text()

        release.db = await asyncio.to_thread(release.start_db_pod)
        await asyncio.to_thread(release.db.wait_ready, 120)
        db_ready_s = round(time.monotonic() - began, 2)
        await asyncio.gather(*(asyncio.to_thread(pod.wait_ready, 60) for pod in release.api))
        api_ready_s = round(time.monotonic() - began, 2)

        for i, user in enumerate(users):
            async with http.get(f"{release.api[(i + 1) % 2].url}/users/{user['id']}") as read:
                assert (read.status, await read.json()) == (200, user)

    assert termination.exit_code == 0 and not termination.killed, termination
    assert termination.signal == "SIGINT"  # the image's STOPSIGNAL: PostgreSQL's fast shutdown
    assert "init process complete" not in release.db.logs()  # the claim's data, no new initdb
    assert [pod.restarts for pod in release.api] == [0] * len(release.api)
    assert len(unready) == len(release.api)
    record(
        "4 database restart",
        users_written=USERS,
        users_read_back=len(users),
        db_stop_s=termination.total_seconds,
        api_unready_after_s=unready_s,
        status_during_outage=status_during,
        db_ready_after_s=db_ready_s,
        api_ready_after_s=api_ready_s,
        api_restarts=[pod.restarts for pod in release.api],
    )
