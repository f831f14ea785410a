"""Scenario 2, shared state and no local state: what replica A writes, replica B reads, updates
and deletes; 50 concurrent conflicting creates spread over both replicas give exactly one 201."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter

import pytest

from .release import Release, record

pytestmark = pytest.mark.pods

CONCURRENT_CREATES = 50


async def test_a_user_written_through_one_replica_is_served_by_the_other(
    release: Release,
) -> None:
    a, b = release.api[0].url, release.api[1].url
    name = f"pods-{secrets.token_hex(4)}"
    async with release.client() as http:
        created = await http.post(f"{a}/users", json={"username": name, "email": f"{name}@x.org"})
        assert created.status == 201, await created.text()
        user = await created.json()
        path = f"/users/{user['id']}"

        read = await http.get(b + path)
        assert (read.status, await read.json()) == (200, user)
        patched = await http.patch(b + path, json={"email": f"{name}@y.org"})
        assert patched.status == 200, await patched.text()
        read = await http.get(a + path)
        assert (await read.json())["email"] == f"{name}@y.org"
        deleted = await http.delete(b + path)
        assert deleted.status == 204
        assert (await http.get(a + path)).status == 404
        assert (await http.get(b + path)).status == 404


async def test_concurrent_conflicting_creates_over_both_replicas_make_one_user(
    release: Release,
) -> None:
    name = f"pods-race-{secrets.token_hex(4)}"
    body = {"username": name, "email": f"{name}@x.org"}
    urls = [release.api[i % 2].url for i in range(CONCURRENT_CREATES)]
    async with release.client() as http:

        async def create(url: str) -> tuple[str, int]:
            async with http.post(f"{url}/users", json=body) as response:
                await response.read()
                return url, response.status

        began = time.monotonic()
        results = await asyncio.gather(*(create(url) for url in urls))
        seconds = round(time.monotonic() - began, 2)
        statuses = Counter(status for _, status in results)
        assert statuses == {201: 1, 409: CONCURRENT_CREATES - 1}, statuses
        by_replica = {url: Counter(s for u, s in results if u == url) for url in set(urls)}
        assert all(sum(c.values()) == CONCURRENT_CREATES // 2 for c in by_replica.values())

        async with http.get(f"{release.api[1].url}/users", params={"limit": "100"}) as listing:
            users = (await listing.json())["users"]
        assert [u["username"] for u in users].count(name) == 1
    record(
        "2 shared state",
        creates=CONCURRENT_CREATES,
        statuses=dict(statuses),
        per_replica=[dict(c) for c in by_replica.values()],
        seconds=seconds,
    )
