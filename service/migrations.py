"""Versioned SQL migrations (factor 12), applied by a one-off `migrate` command, never at boot.

Each file `NNNN_name.sql` runs in its own transaction and is recorded in schema_migrations with
a checksum. A session-level advisory lock serialises concurrent runs (several Job pods, several
developers): the second waits, then finds nothing pending.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

logger = logging.getLogger(__name__)

# Any constant works as long as every runner uses the same one: "user-svc" in ASCII.
ADVISORY_LOCK_ID = 0x757365722D737663
_FILE_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")


class MigrationError(Exception):
    """The database's history disagrees with the files in this build."""


class MigrationFailed(MigrationError):
    """A migration's SQL failed; its transaction rolled back, earlier migrations stay."""

    def __init__(self, migration: Migration, error: asyncpg.PostgresError) -> None:
        first_line = str(error).splitlines()[0] if str(error) else ""
        super().__init__(
            f"migration {migration.version:04d}_{migration.name} failed: "
            f"{type(error).__name__}: {first_line}"
        )


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def load_migrations(directory: Traversable | None = None) -> list[Migration]:
    """The build's migrations, or those of `directory` (the tests' own files)."""
    if directory is None:
        directory = resources.files("service").joinpath("migrations")
    found = []
    for entry in directory.iterdir():
        match = _FILE_NAME.fullmatch(entry.name)
        if match is None:
            continue
        found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migration versions must be 1, 2, 3... without gaps: {versions}")
    return found


def latest_version(migrations: list[Migration]) -> int:
    return migrations[-1].version if migrations else 0


_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""


async def _applied(conn: asyncpg.Connection[asyncpg.Record]) -> dict[int, str]:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return {}
    rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
    return {r["version"]: r["checksum"] for r in rows}


def _pending(migrations: list[Migration], applied: dict[int, str]) -> list[Migration]:
    for m in migrations:
        if m.version in applied and applied[m.version] != m.checksum:
            raise MigrationError(
                f"migration {m.version:04d}_{m.name} was changed after it was "
                "applied: add a new migration instead of editing an old one"
            )
    return [m for m in migrations if m.version not in applied]


async def pending_migrations(
    conn: asyncpg.Connection[asyncpg.Record], migrations: list[Migration]
) -> list[Migration]:
    return _pending(migrations, await _applied(conn))


async def apply_migrations(
    conn: asyncpg.Connection[asyncpg.Record],
    migrations: list[Migration],
    app_role: AppRole | None = None,
) -> list[Migration]:
    """Applies what is pending, each in its own transaction, then creates or updates the app
    role if one is given (under the same lock: concurrent runs never race on it)."""
    await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_ID)
    try:
        await conn.execute(_CREATE_TABLE)
        pending = _pending(migrations, await _applied(conn))
        for migration in pending:
            try:
                async with conn.transaction():
                    await conn.execute(migration.sql)
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name, checksum) "
                        "VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                raise MigrationFailed(migration, exc) from exc
            logger.info(
                "migration applied",
                extra={"version": migration.version, "migration": migration.name},
            )
        if app_role is not None:
            await _ensure_app_role(conn, app_role)
        return pending
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_ID)


@dataclass(frozen=True, slots=True)
class AppRole:
    """The web process's login role: reads and writes rows, cannot change the schema."""

    name: str
    password: str


async def _ensure_app_role(conn: asyncpg.Connection[asyncpg.Record], role: AppRole) -> None:
    exists = await conn.fetchval("SELECT true FROM pg_roles WHERE rolname = $1", role.name)
    # DDL takes no parameters: the server quotes each value once, then the statements use them.
    # It receives a SCRAM verifier, never the password, so the password can't reach its logs.
    quoted = await conn.fetchrow(
        "SELECT quote_ident($1) AS name, quote_literal($2) AS verifier, "
        "quote_ident(current_database()) AS database",
        role.name,
        scram_verifier(role.password),
    )
    if quoted is None:  # pragma: no cover - a SELECT without FROM always yields a row
        raise RuntimeError("no row from SELECT")
    name, verifier, database = quoted["name"], quoted["verifier"], quoted["database"]
    verb = "ALTER" if exists else "CREATE"
    for sql in (
        f"{verb} ROLE {name} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {verifier}",
        f"GRANT CONNECT ON DATABASE {database} TO {name}",
        f"GRANT USAGE ON SCHEMA public TO {name}",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",  # the default before PostgreSQL 15
        # A role that existed before may hold grants of its own: rows only, nothing more.
        f"REVOKE CREATE ON SCHEMA public FROM {name}",
        f"REVOKE CREATE ON DATABASE {database} FROM {name}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE users TO {name}",
        f"GRANT SELECT ON TABLE schema_migrations TO {name}",
    ):
        await conn.execute(sql)
    memberships = await conn.fetch(
        "SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
        "WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1) ORDER BY 1",
        role.name,
    )
    if memberships:
        # Not ours to undo (an operator granted them), but it is no longer least privilege.
        logger.warning(
            "the app role is a member of other roles, which may give it more than rows",
            extra={"role": role.name, "member_of": [r["rolname"] for r in memberships]},
        )
    logger.info("app role ready", extra={"role": role.name, "new_role": not exists})


def scram_verifier(password: str, iterations: int = 4096) -> str:
    """PostgreSQL's SCRAM-SHA-256 password verifier (what `\\password` in psql sends)."""
    salt = secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"
