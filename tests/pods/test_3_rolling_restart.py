"""Scenario 3, rolling restart under load: keep-alive traffic on both replicas, client-side round
robin standing in for the Service; every replica is replaced (new pod first, then the old one is
deleted the kubelet's way). No request fails, the replicas being stopped keep serving until
traffic has moved, and each new replica serves once it is ready."""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from dataclasses import dataclass

import aiohttp
import pytest

from .kubelet import Pod
from .release import Release, json_logs, record

pytestmark = pytest.mark.pods

WORKERS = 8


@dataclass(frozen=True)
class Sample:
    pod: str
    sent: float
    outcome: str  # the HTTP status, or the client exception's name
    closed: bool  # the response asked the client to close its keep-alive connection


class Endpoints:
    """The Service's endpoints as the client sees them: ready pods, round robin, each change
    arriving `lag` seconds after the readiness change (endpoint propagation)."""

    def __init__(self, pods: list[Pod], lag: float) -> None:
        self.lag = lag
        self.watched = list(pods)
        self.current = list(pods)
        self._turn = itertools.count()

    def next(self) -> Pod:
        pods = self.current
        return pods[next(self._turn) % len(pods)]

    async def follow(self, stop: asyncio.Event) -> None:
        changed: dict[str, float] = {}
        while not stop.is_set():
            now = time.monotonic()
            for pod in list(self.watched):
                listed = pod in self.current
                if pod.ready == listed:
                    changed.pop(pod.plan.name, None)
                elif now - changed.setdefault(pod.plan.name, now) >= self.lag:
                    others = [p for p in self.current if p is not pod]
                    self.current = others if listed else [*others, pod]
            await asyncio.sleep(0.02)


async def client(
    http: aiohttp.ClientSession,
    endpoints: Endpoints,
    path: str,
    samples: list[Sample],
    stop: asyncio.Event,
) -> None:
    while not stop.is_set():
        pod, sent = endpoints.next(), time.monotonic()
        try:
            async with http.get(pod.url + path) as response:
                await response.read()
                closed = response.headers.get("Connection", "").lower() == "close"
                samples.append(Sample(pod.plan.name, sent, str(response.status), closed))
        except (aiohttp.ClientError, TimeoutError) as exc:
            samples.append(Sample(pod.plan.name, sent, type(exc).__name__, closed=False))


async def test_rolling_restart_under_keep_alive_load_fails_no_request(release: Release) -> None:
    async with release.client() as http:
        name = f"pods-load-{secrets.token_hex(4)}"
        user = {"username": name, "email": f"{name}@x.org"}
        async with http.post(f"{release.api[0].url}/users", json=user) as created:
            path = f"/users/{(await created.json())['id']}"

        # Slower than the preStop sleep, within preStop + drain: the stopping pods see requests
        # after SIGTERM too, which the app must still serve (asking clients to reconnect).
        pre_stop = release.values["lifecycle"]["preStopSleepSeconds"]
        drain = release.values["config"]["drainDelaySeconds"]
        endpoints = Endpoints(release.api, lag=pre_stop + drain / 2)
        stop = asyncio.Event()
        samples: list[Sample] = []
        tasks = [asyncio.create_task(endpoints.follow(stop))]
        tasks += [
            asyncio.create_task(client(http, endpoints, path, samples, stop))
            for _ in range(WORKERS)
        ]
        old = list(release.api)
        began = time.monotonic()
        await asyncio.sleep(1)
        new, terminations = await asyncio.to_thread(
            release.roll, release.manifests, endpoints.watched.append
        )
        await asyncio.sleep(1)
        stop.set()
        await asyncio.gather(*tasks)
        seconds = round(time.monotonic() - began, 2)

    failures = [s for s in samples if s.outcome != "200"]
    stopped = {t.pod: t for t in terminations}
    per_pod = {pod.plan.name: stopping_figures(samples, pod) for pod in old}
    per_pod |= {
        pod.plan.name: {"requests": sum(s.pod == pod.plan.name for s in samples)} for pod in new
    }
    record(
        "3 rolling restart",
        requests=len(samples),
        failures=len(failures),
        workers=WORKERS,
        endpoint_lag_s=endpoints.lag,
        seconds=seconds,
        per_pod=per_pod,
        stops=[
            {"pod": t.pod, "preStop_s": t.pre_stop_seconds, "exit_after_signal_s": t.exit_seconds}
            for t in terminations
        ],
    )
    assert not failures, failures[:20]
    assert sorted(stopped) == sorted(pod.plan.name for pod in old)
    for pod in old:
        termination, figures = stopped[pod.plan.name], per_pod[pod.plan.name]
        assert termination.exit_code == 0 and not termination.killed, termination
        assert figures["after_delete"] > 0, figures  # served while leaving the endpoints
        assert figures["served_while_draining"] > 0, (figures, termination)  # after SIGTERM
        assert figures["asked_to_reconnect"] > 0, figures  # the drain's Connection: close
    for pod in new:
        assert per_pod[pod.plan.name]["requests"] > 0, f"{pod} never served"
        assert pod.ready and pod.restarts == 0


def stopping_figures(samples: list[Sample], pod: Pod) -> dict[str, int]:
    """Requests to a replica that was stopped: all, those sent after its deletion, those it
    served after SIGTERM (its own log: access lines after "draining"), and the responses that
    asked the client to reconnect (Connection: close)."""
    mine = [s for s in samples if s.pod == pod.plan.name]
    deleted = next(t for t, text in pod.events if text.startswith("deleted")) + pod.created
    logs = json_logs(pod.final_logs)
    draining = next(i for i, e in enumerate(logs) if e["message"].startswith("draining"))
    served = [e for e in logs[draining:] if e["message"] == "request" and e["path"] != "/readyz"]
    return {
        "requests": len(mine),
        "after_delete": sum(s.sent > deleted for s in mine),
        "served_while_draining": len(served),
        "asked_to_reconnect": sum(s.closed for s in mine),
    }
