"""`python -m service migrate` as a one-off process against real, fresh databases."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import asyncpg

from service.migrations import load_migrations
from service.processes import free_port
from tests.helpers import REPO
from tests.procs import LogLine, clean_environ, parse_log, run_cli


def fetch(url: str, sql: str) -> list[dict[str, Any]]:
    async def run() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(url)
        try:
            return [dict(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    return asyncio.run(run())


def recorded(url: str) -> list[tuple[int, str, str]]:
    rows = fetch(url, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    return [(r["version"], r["name"], r["checksum"]) for r in rows]


def expected_history() -> list[tuple[int, str, str]]:
    return [(m.version, m.name, m.checksum) for m in load_migrations()]


def users_table_exists(url: str) -> bool:
    return bool(fetch(url, "SELECT to_regclass('users') IS NOT NULL AS e")[0]["e"])


def migrate(url: str, *args: str) -> tuple[int, list[LogLine]]:
    result = run_cli(["migrate", *args], clean_environ(DATABASE_URL=url))
    assert result.stderr == ""
    return result.returncode, parse_log(result.stdout)


def message(lines: list[LogLine], text: str) -> list[LogLine]:
    return [line for line in lines if line["message"] == text]


def test_migrate_applies_what_is_pending_then_is_a_no_op(scratch_url: str) -> None:
    code, lines = migrate(scratch_url)
    assert code == 0
    assert [(x["version"], x["migration"]) for x in message(lines, "migration applied")] == [
        (1, "create_users")
    ]
    assert message(lines, "migrations up to date")[0]["applied"] == 1
    assert recorded(scratch_url) == expected_history()
    assert users_table_exists(scratch_url)

    code, lines = migrate(scratch_url)
    assert code == 0
    assert message(lines, "migration applied") == []
    assert message(lines, "migrations up to date")[0]["applied"] == 0
    assert recorded(scratch_url) == expected_history()


def test_concurrent_runs_both_succeed_and_apply_each_migration_once(scratch_url: str) -> None:
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "service", "migrate"],
            env=clean_environ(DATABASE_URL=scratch_url),
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        outputs = [run.communicate(timeout=20) for run in runs]
    finally:
        for run in runs:
            run.kill()
    assert [run.returncode for run in runs] == [0, 0], outputs
    applied = sorted(
        message(parse_log(out), "migrations up to date")[0]["applied"] for out, _ in outputs
    )
    assert applied == [0, 1]  # one applied it, the other waited for the lock and found nothing
    assert recorded(scratch_url) == expected_history()


def test_check_exits_1_while_migrations_are_pending_and_0_after(scratch_url: str) -> None:
    code, lines = migrate(scratch_url, "--check")
    assert code == 1
    assert [x["version"] for x in message(lines, "migration pending")] == [1]
    assert not users_table_exists(scratch_url)  # --check applies nothing

    assert migrate(scratch_url)[0] == 0
    code, lines = migrate(scratch_url, "--check")
    assert code == 0
    assert message(lines, "migration check")[0]["pending"] == 0


def test_an_applied_migration_that_was_edited_is_refused(scratch_url: str) -> None:
    assert migrate(scratch_url)[0] == 0
    fetch(scratch_url, "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")

    for args in ((), ("--check",)):
        code, lines = migrate(scratch_url, *args)
        assert code == 1, args
        [refused] = message(lines, "migrations refused")
        assert refused["level"] == "ERROR"
        assert "0001_create_users was changed" in refused["reason"]
    assert recorded(scratch_url)[0][2] == "edited"  # and nothing was touched


def test_migrate_without_a_database_exits_2() -> None:
    result = run_cli(["migrate"], clean_environ())
    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("user-service: configuration error: DATABASE_URL: not set")


def test_migrate_gives_up_on_an_unreachable_database_after_its_wait_timeout() -> None:
    password = "S3cret-unreachable-91c4"
    url = f"postgresql://app:{password}@127.0.0.1:{free_port()}/app"
    started = time.monotonic()
    result = run_cli(["migrate", "--wait-timeout", "1"], clean_environ(DATABASE_URL=url))
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert elapsed < 5
    lines = parse_log(result.stdout)
    assert message(lines, "database not reachable yet, retrying")
    [gave_up] = message(lines, "database not reachable, giving up")
    assert "ConnectionRefusedError" in gave_up["error"]
    assert password not in result.stdout + result.stderr


def test_migrate_with_a_wrong_password_fails_cleanly_without_printing_it(
    scratch_url: str,
) -> None:
    password = "Wr0ng-migrate-5d1e"
    parts = urlsplit(scratch_url)
    wrong = parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}")
    result = run_cli(
        ["migrate", "--wait-timeout", "0.5"], clean_environ(DATABASE_URL=wrong.geturl())
    )
    assert result.returncode == 1
    assert result.stderr == ""  # a log line, not a traceback
    [gave_up] = message(parse_log(result.stdout), "database not reachable, giving up")
    assert gave_up["error"].startswith("InvalidPasswordError")
    assert password not in result.stdout


def test_migrate_reads_the_libpq_pg_variables(scratch_url: str) -> None:
    parts = urlsplit(scratch_url)
    assert parts.hostname and parts.port and parts.username and parts.password
    env = clean_environ(
        PGHOST=parts.hostname,
        PGPORT=str(parts.port),
        PGUSER=parts.username,
        PGPASSWORD=parts.password,
        PGDATABASE=parts.path.lstrip("/"),
    )
    result = run_cli(["migrate"], env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert recorded(scratch_url) == expected_history()
    assert parts.password not in result.stdout + result.stderr
