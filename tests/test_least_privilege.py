"""The web process's database role reads and writes rows and can change nothing else."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from service.config import Settings
from tests.helpers import as_role, base_environ, execute_sql
from tests.procs import clean_environ, parse_log, run_cli


@pytest.fixture
def app_role(admin_url: str) -> Iterator[str]:
    name = f"app_{uuid.uuid4().hex[:10]}"
    yield name

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            for database in await conn.fetch(
                "SELECT datname FROM pg_database WHERE NOT datistemplate"
            ):
                other = await asyncpg.connect(
                    urlsplit(admin_url)._replace(path=f"/{database['datname']}").geturl()
                )
                try:
                    await other.execute(f'DROP OWNED BY "{name}"')
                except asyncpg.UndefinedObjectError:
                    pass
                finally:
                    await other.close()
            await conn.execute(f'DROP ROLE IF EXISTS "{name}"')
        finally:
            await conn.close()

    asyncio.run(drop())


def migrate(url: str, role: str, password: str) -> None:
    result = run_cli(
        ["migrate"], clean_environ(DATABASE_URL=url, APP_DB_USER=role, APP_DB_PASSWORD=password)
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert password not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "ddl",
    [
        "CREATE TABLE intruder (id int)",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN role text",
        "TRUNCATE users",
        "CREATE INDEX users_intruder_idx ON users (email)",
        "DROP TABLE schema_migrations",
        "CREATE ROLE intruder",
        "CREATE SCHEMA intruder",
        "COMMENT ON TABLE users IS 'owned'",
        "CREATE FUNCTION intruder() RETURNS int LANGUAGE sql AS 'SELECT 1'",
    ],
)
async def test_the_app_role_cannot_change_the_schema(
    scratch_url: str, app_role: str, ddl: str
) -> None:
    password = "app-role-password-" + uuid.uuid4().hex
    migrate(scratch_url, app_role, password)
    conn = await asyncpg.connect(as_role(scratch_url, app_role, password))
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(ddl)
    finally:
        await conn.close()


async def test_migrate_revokes_create_on_public_that_everyone_was_granted(
    scratch_url: str, app_role: str
) -> None:
    # PostgreSQL 15+ (the embedded one is 18) no longer grants CREATE on public to PUBLIC, so
    # the test above passes with or without migrate's REVOKE. PostgreSQL 14 and older do, and
    # so does a hand-made grant on any version: start from there.
    await execute_sql(scratch_url, "GRANT CREATE ON SCHEMA public TO PUBLIC")
    password = "app-role-password-" + uuid.uuid4().hex
    migrate(scratch_url, app_role, password)
    conn = await asyncpg.connect(as_role(scratch_url, app_role, password))
    try:
        # Neither through PUBLIC nor through a grant of its own (nor any role it is in).
        assert not await conn.fetchval("SELECT has_schema_privilege('public', 'CREATE')")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE intruder (id int)")
    finally:
        await conn.close()


async def test_migrate_takes_ddl_rights_back_from_an_existing_app_role(
    scratch_url: str, app_role: str
) -> None:
    # The role was made by hand before, with rights of its own; migrate updates it.
    await execute_sql(
        scratch_url,
        f'CREATE ROLE "{app_role}" LOGIN',
        f'GRANT CREATE ON SCHEMA public TO "{app_role}"',
        f'GRANT CREATE ON DATABASE "{database_name(scratch_url)}" TO "{app_role}"',
    )
    password = "app-role-password-" + uuid.uuid4().hex
    migrate(scratch_url, app_role, password)
    conn = await asyncpg.connect(as_role(scratch_url, app_role, password))
    try:
        assert not await conn.fetchval("SELECT has_schema_privilege('public', 'CREATE')")
        assert not await conn.fetchval(
            "SELECT has_database_privilege(current_database(), 'CREATE')"
        )
        for ddl in ("CREATE TABLE intruder (id int)", "CREATE SCHEMA intruder"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(ddl)
    finally:
        await conn.close()


def test_migrate_warns_when_the_app_role_is_a_member_of_other_roles(
    scratch_url: str, app_role: str
) -> None:
    asyncio.run(
        execute_sql(
            scratch_url,
            f'CREATE ROLE "{app_role}" LOGIN',
            f'GRANT pg_read_all_data TO "{app_role}"',
        )
    )
    password = "app-role-password-" + uuid.uuid4().hex
    result = run_cli(
        ["migrate"],
        clean_environ(DATABASE_URL=scratch_url, APP_DB_USER=app_role, APP_DB_PASSWORD=password),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    [warning] = [
        line
        for line in parse_log(result.stdout)
        if line["message"].startswith("the app role is a member of other roles")
    ]
    assert warning["member_of"] == ["pg_read_all_data"]


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


async def test_the_app_role_serves_the_whole_api(
    scratch_url: str, app_role: str, make_client: Any
) -> None:
    password = "app-role-password-" + uuid.uuid4().hex
    migrate(scratch_url, app_role, password)
    settings = Settings.from_env(base_environ(as_role(scratch_url, app_role, password)))
    client = await make_client(settings)
    assert (await client.get("/readyz")).status == 200
    created = await client.post("/users", json={"username": "least", "email": "l@example.com"})
    assert created.status == 201
    url = created.headers["Location"]
    assert (await client.get("/users")).status == 200
    assert (await client.patch(url, json={"username": "lesser"})).status == 200
    assert (
        await client.put(url, json={"username": "least2", "email": "l2@example.com"})
    ).status == 200
    assert (await client.delete(url)).status == 204


async def test_migrate_again_updates_the_app_role_password(scratch_url: str, app_role: str) -> None:
    first, second = "first-password-" + uuid.uuid4().hex, "second-password-" + uuid.uuid4().hex
    migrate(scratch_url, app_role, first)
    migrate(scratch_url, app_role, second)
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(as_role(scratch_url, app_role, first))
    conn = await asyncpg.connect(as_role(scratch_url, app_role, second))
    await conn.close()


def test_app_role_settings_go_together() -> None:
    result = run_cli(
        ["migrate"], clean_environ(DATABASE_URL="postgresql://u@h/d", APP_DB_USER="someone")
    )
    assert result.returncode == 2
    assert "APP_DB_PASSWORD" in result.stderr
