"""`python -m service migrate` as a one-off process against real, fresh databases."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from service.migrations import (
    ADVISORY_LOCK_ID,
    MigrationFailed,
    apply_migrations,
    load_migrations,
)
from service.processes import free_port
from tests.helpers import REPO
from tests.procs import LogLine, clean_environ, parse_log, run_cli

if TYPE_CHECKING:
    Conn = asyncpg.Connection[asyncpg.Record]


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
    assert message(lines, "database not reachable, retrying")
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


def migration_files(directory: Path, files: dict[str, str]) -> Path:
    for name, sql in files.items():
        (directory / name).write_text(sql, encoding="utf-8")
    return directory


async def table_exists(conn: Conn, name: str) -> bool:
    return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))


async def applied_versions(conn: Conn) -> list[int]:
    rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
    return [r["version"] for r in rows]


async def test_a_migration_failing_halfway_leaves_nothing_and_earlier_ones_stay(
    scratch_url: str, tmp_path: Path
) -> None:
    directory = migration_files(
        tmp_path,
        {
            "0001_first.sql": "CREATE TABLE first_table (id int);",
            # The first statement succeeds; the second fails.
            "0002_broken.sql": "CREATE TABLE half_done (id int);\n"
            "SELECT no_such_column FROM first_table;",
        },
    )
    conn = await asyncpg.connect(scratch_url)
    try:
        failing = r"0002_\w+ failed: UndefinedColumnError"
        with pytest.raises(MigrationFailed, match=failing) as failed:
            await apply_migrations(conn, load_migrations(directory))
        assert isinstance(failed.value.__cause__, asyncpg.UndefinedColumnError)
        assert await applied_versions(conn) == [1]
        assert await table_exists(conn, "first_table")
        assert not await table_exists(conn, "half_done")
    finally:
        await conn.close()


async def test_a_migration_and_its_record_commit_together(scratch_url: str, tmp_path: Path) -> None:
    # A multi-statement migration is atomic by itself (one simple query is one implicit
    # transaction); what needs our transaction is the migration with its schema_migrations row.
    # Here recording version 2 fails, so version 2's table must go too, or the next run would
    # apply it again over its own leftovers.
    migration_files(tmp_path, {"0001_first.sql": "CREATE TABLE first_table (id int);"})
    conn = await asyncpg.connect(scratch_url)
    try:
        await apply_migrations(conn, load_migrations(tmp_path))
        await conn.execute(
            """CREATE FUNCTION refuse_version_2() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.version = 2 THEN RAISE EXCEPTION 'cannot record version 2'; END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER refuse_version_2 BEFORE INSERT ON schema_migrations
                FOR EACH ROW EXECUTE FUNCTION refuse_version_2();"""
        )
        migration_files(tmp_path, {"0002_second.sql": "CREATE TABLE second_table (id int);"})
        with pytest.raises(MigrationFailed, match="cannot record version 2"):
            await apply_migrations(conn, load_migrations(tmp_path))
        assert await applied_versions(conn) == [1]
        assert not await table_exists(conn, "second_table")
    finally:
        await conn.close()


def test_migrate_fails_on_a_broken_migration_and_leaves_nothing_behind(scratch_url: str) -> None:
    # The real 0001 creates the users table, then an index named users_email_lower_key: a
    # relation of that name makes its second statement fail.
    fetch(scratch_url, "CREATE TABLE users_email_lower_key (id int)")
    result = run_cli(["migrate"], clean_environ(DATABASE_URL=scratch_url))
    assert result.returncode == 1
    lines = parse_log(result.stdout)
    # One log line naming the migration and PostgreSQL's reason; no traceback anywhere.
    [failed] = message(lines, "migration failed")
    assert failed["reason"] == (
        "migration 0001_create_users failed: DuplicateTableError: "
        'relation "users_email_lower_key" already exists'
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert message(lines, "migration applied") == []
    assert message(lines, "migrations up to date") == []
    assert recorded(scratch_url) == []
    assert not users_table_exists(scratch_url)


async def advisory_lock_waiter(observer: Conn, pid: int) -> dict[str, Any] | None:
    """The backend `pid`'s wait, if it is waiting for an advisory lock that it has not got."""
    row = await observer.fetchrow(
        """SELECT (l.classid::bigint << 32) | l.objid::bigint AS lock_id, a.wait_event
        FROM pg_locks l JOIN pg_stat_activity a USING (pid)
        WHERE l.pid = $1 AND l.locktype = 'advisory' AND NOT l.granted""",
        pid,
    )
    return None if row is None else dict(row)


async def wait_for_advisory_lock_waiter(
    observer: Conn, pid: int, run: asyncio.Task[Any]
) -> dict[str, Any]:
    deadline = time.monotonic() + 5
    while (waiting := await advisory_lock_waiter(observer, pid)) is None:
        assert not run.done(), "migrate did not wait for the advisory lock held by another run"
        assert time.monotonic() < deadline, "migrate never waited on an advisory lock"
        await asyncio.sleep(0.02)
    return waiting


async def test_migrate_waits_while_another_run_holds_the_advisory_lock(scratch_url: str) -> None:
    # Two runs giving [0, 1] applied (the test above) would pass one after the other too: here
    # a run provably waits for the lock, then applies everything once it is released.
    holder = await asyncpg.connect(scratch_url)
    runner = await asyncpg.connect(scratch_url)
    await holder.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    run = asyncio.create_task(apply_migrations(runner, load_migrations()))
    try:
        waiting = await wait_for_advisory_lock_waiter(holder, runner.get_server_pid(), run)
        assert waiting == {"lock_id": ADVISORY_LOCK_ID, "wait_event": "advisory"}
        await asyncio.sleep(1)
        assert not run.done()
        assert not await table_exists(holder, "users")

        await holder.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)
        applied = await asyncio.wait_for(run, 10)
        assert [m.version for m in applied] == [m.version for m in load_migrations()]
        assert await table_exists(holder, "users")
    finally:
        await holder.close()  # releases the lock if an assertion left it held
        await asyncio.wait_for(asyncio.gather(run, return_exceptions=True), 10)
        await runner.close()
