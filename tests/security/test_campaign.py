"""The hostile-input campaign: schemathesis against /openapi.json of a real, authenticated
service, then nothing lost, nothing extra, and no secret in anything the service said.

schemathesis runs as its own CLI process (`python -m schemathesis.cli run`), configured by
tests/security/schemathesis.toml; its HAR report holds every request it sent with the response,
which is what the assertions below read.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tests.procs import Service, clean_environ, http_get
from tests.security.conftest import record_summary
from tests.security.helpers import (
    CAMPAIGN_KEY,
    DB_PASSWORD,
    SecureDatabase,
    users_table_versions,
)

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
# Fixed, so a failure reproduces; SECURITY_CAMPAIGN_SEED explores other corners.
SEED = int(os.environ.get("SECURITY_CAMPAIGN_SEED", "20260508"))
MIN_REQUESTS = 1000
TIME_LIMIT = 240.0  # seconds; the run takes about 20 on two idle cores
OPERATIONS = {
    ("GET", "/users"),
    ("POST", "/users"),
    ("GET", "/users/{user_id}"),
    ("PUT", "/users/{user_id}"),
    ("PATCH", "/users/{user_id}"),
    ("DELETE", "/users/{user_id}"),
    ("GET", "/health"),
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
}


@dataclass(frozen=True)
class Exchange:
    """One request schemathesis sent, and the service's answer."""

    method: str
    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def operation(self) -> tuple[str, str]:
        """(method, documented path), or the raw path for a route the document does not have."""
        template = re.sub(r"^/users/[^/]+$", "/users/{user_id}", self.path)
        if (self.method, template) in OPERATIONS:
            return self.method, template
        return self.method, self.path

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Campaign:
    exchanges: list[Exchange]
    returncode: int
    output: str
    seconds: float


def _exchanges(har_path: Path) -> list[Exchange]:
    entries = json.loads(har_path.read_text(encoding="utf-8"))["log"]["entries"]
    return [
        Exchange(
            method=entry["request"]["method"],
            url=entry["request"]["url"],
            status=entry["response"]["status"],
            headers=tuple((h["name"], h["value"]) for h in entry["response"]["headers"]),
            body=entry["response"]["content"].get("text", ""),
        )
        for entry in entries
    ]


@pytest.fixture(scope="module")
def campaign(secure_service: Service, tmp_path_factory: pytest.TempPathFactory) -> Campaign:
    """Runs schemathesis once for the module; its own directory keeps its caches out of ours."""
    workdir = tmp_path_factory.mktemp("campaign")
    har = workdir / "campaign.har.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--no-color",
        "--config-file",
        str(HERE / "schemathesis.toml"),
        "run",
        f"{secure_service.base_url}/openapi.json",
        "--seed",
        str(SEED),
        "--report",
        "har",
        "--report-har-path",
        str(har),
    ]
    env = clean_environ(
        # The key travels in the environment, never on a command line others can list.
        USER_SERVICE_CAMPAIGN_KEY=CAMPAIGN_KEY,
    )
    started = time.monotonic()
    result = subprocess.run(
        command,
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        check=False,
    )
    seconds = time.monotonic() - started
    output = result.stdout + result.stderr
    assert har.exists(), f"schemathesis wrote no report (exit {result.returncode}):\n{output}"
    return Campaign(_exchanges(har), result.returncode, output, seconds)


def _summary(campaign: Campaign) -> list[str]:
    per_operation: dict[tuple[str, str], Counter[int]] = {}
    for exchange in campaign.exchanges:
        per_operation.setdefault(exchange.operation, Counter())[exchange.status] += 1
    documented = sorted(k for k in per_operation if k in OPERATIONS)
    others = [k for k in per_operation if k not in OPERATIONS]
    lines = [
        f"schemathesis campaign: seed {SEED}, {len(campaign.exchanges)} requests, "
        f"{campaign.seconds:.1f} s, exit code {campaign.returncode}",
    ]
    for method, path in documented:
        statuses = per_operation[method, path]
        detail = ", ".join(f"{status}: {n}" for status, n in sorted(statuses.items()))
        lines.append(f"  {method:6} {path:18} {statuses.total():5}  ({detail})")
    other_statuses: Counter[int] = Counter()
    for key in others:
        other_statuses.update(per_operation[key])
    detail = ", ".join(f"{status}: {n}" for status, n in sorted(other_statuses.items()))
    lines.append(f"  undocumented methods     {other_statuses.total():5}  ({detail})")
    failures = re.search(r"^\s*(\d+) generated, .*$", campaign.output, re.MULTILINE)
    lines.append(f"  schemathesis: {failures.group(0).strip() if failures else '(no summary)'}")
    return lines


def test_campaign_finds_no_failure(campaign: Campaign) -> None:
    summary = _summary(campaign)
    record_summary(summary)  # shown at the end of the run: the figures the README quotes
    assert campaign.returncode == 0, campaign.output[-6000:]
    assert re.search(r"No issues found", campaign.output), campaign.output[-6000:]
    assert len(campaign.exchanges) >= MIN_REQUESTS, summary
    sent = {e.operation for e in campaign.exchanges}
    assert sent >= OPERATIONS, f"operations never called: {OPERATIONS - sent}"
    assert not [e for e in campaign.exchanges if e.status >= 500], "server errors"


def _accepted_writes(exchanges: list[Exchange]) -> tuple[dict[int, dict[str, Any]], set[int]]:
    """The latest state of every user the accepted requests wrote, and the ids they deleted.

    Workers send concurrently, so the order of the report is not the order of the commits:
    updated_at is (it moves forward on every write to a row), and ids are never reused.
    """
    latest: dict[int, dict[str, Any]] = {}
    created: set[int] = set()
    deleted: set[int] = set()
    for exchange in exchanges:
        if not 200 <= exchange.status < 300 or not exchange.path.startswith("/users"):
            continue
        if exchange.method == "DELETE":
            deleted.add(int(unquote(exchange.path.rsplit("/", 1)[1])))
            continue
        if exchange.method not in ("POST", "PUT", "PATCH"):
            continue
        user = exchange.json()
        if exchange.method == "POST":
            assert exchange.status == 201
            created.add(user["id"])
        current = latest.get(user["id"])
        if current is None or user["updated_at"] > current["updated_at"]:
            latest[user["id"]] = user
    written = set(latest) | deleted
    assert written <= created, f"writes to users the campaign never created: {written - created}"
    return latest, deleted


async def test_the_database_holds_exactly_what_was_accepted(
    campaign: Campaign, secure_database: SecureDatabase
) -> None:
    latest, deleted = _accepted_writes(campaign.exchanges)
    expected = {
        user_id: (user["username"], user["email"], user["updated_at"])
        for user_id, user in latest.items()
        if user_id not in deleted
    }
    actual = await users_table_versions(secure_database.owner_url)
    assert len(actual) == len(expected)
    assert actual == expected
    # Something was at stake: users created, changed and deleted.
    methods = Counter(e.method for e in campaign.exchanges if 200 <= e.status < 300)
    assert methods["POST"] >= 10 and methods["DELETE"] >= 5
    assert methods["PUT"] + methods["PATCH"] >= 10


def test_every_request_is_in_the_access_log(campaign: Campaign, secure_service: Service) -> None:
    """The server saw exactly the /users requests the report holds, with the same answers."""
    logged = Counter(
        (line["method"], line["status"])
        for line in secure_service.log_lines()
        if line.get("logger") == "service.access" and str(line.get("path")).startswith("/users")
    )
    # The authenticated ones name the campaign's key; ignored_auth's probes name none.
    named = Counter(
        line.get("api_key")
        for line in secure_service.log_lines()
        if line.get("logger") == "service.access" and str(line.get("path")).startswith("/users")
    )
    assert set(named) <= {"campaign", None}
    sent = Counter((e.method, e.status) for e in campaign.exchanges if e.path.startswith("/users"))
    assert logged == sent


def _secrets(database: SecureDatabase) -> dict[str, str]:
    return {"API key": CAMPAIGN_KEY, "database password": DB_PASSWORD, "DSN": database.app_url}


def test_no_secret_in_any_response_log_or_document(
    campaign: Campaign, secure_service: Service, secure_database: SecureDatabase
) -> None:
    secrets = _secrets(secure_database)
    documents = {
        path: http_get(secure_service.port, path)[2].decode("utf-8")
        for path in ("/openapi.json", "/metrics", "/readyz", "/health")
    }
    places = [
        ("stdout", secure_service.stdout()),
        ("stderr", secure_service.stderr()),
        *documents.items(),
        *(
            (f"{e.method} {e.url} -> {e.status}", f"{e.headers} {e.body}")
            for e in campaign.exchanges
        ),
    ]
    leaks = [
        f"{name} in {place}"
        for place, text in places
        for name, secret in secrets.items()
        if secret in text
    ]
    assert leaks == []
    assert len(secure_service.stdout().splitlines()) >= len(campaign.exchanges)
