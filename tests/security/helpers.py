"""Secrets of the security run, and small raw-socket and database helpers."""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from dataclasses import dataclass, field

import asyncpg

from service.users import iso8601

# Distinctive, random per run: if one of these shows up anywhere, it leaked from this run.
CAMPAIGN_KEY = f"campaign-key-{secrets.token_hex(16)}"
DB_PASSWORD = f"db-password-{secrets.token_hex(16)}"
CAMPAIGN_AUTH = {"Authorization": f"Bearer {CAMPAIGN_KEY}"}

Row = tuple[int, str, str]


@dataclass(frozen=True)
class SecureDatabase:
    # The owner (superuser) on the module's database: for assertions.
    owner_url: str = field(repr=False)
    # The least-privileged app role, with DB_PASSWORD: what the service uses.
    app_url: str = field(repr=False)
    schema: tuple[str, ...]  # schema_of() right after migrate


async def users_table(url: str) -> dict[int, tuple[str, str]]:
    """Every row of users as {id: (username, email)}, read directly from PostgreSQL."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id, username, email FROM users")
    finally:
        await conn.close()
    return {r["id"]: (r["username"], r["email"]) for r in rows}


async def users_table_versions(url: str) -> dict[int, tuple[str, str, str]]:
    """Every row as {id: (username, email, updated_at as the API writes it)}."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT id, username, email, updated_at FROM users")
    finally:
        await conn.close()
    return {r["id"]: (r["username"], r["email"], iso8601(r["updated_at"])) for r in rows}


async def schema_of(url: str) -> tuple[str, ...]:
    """The users table's columns, constraints and indexes: what a successful injection changes."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """SELECT 'column ' || column_name || ' ' || data_type FROM information_schema.columns
                WHERE table_name = 'users'
            UNION ALL SELECT 'constraint ' || conname FROM pg_constraint
                WHERE conrelid = 'users'::regclass
            UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE tablename = 'users'
            UNION ALL SELECT 'table ' || tablename FROM pg_tables WHERE schemaname = 'public'"""
        )
    finally:
        await conn.close()
    return tuple(sorted(r[0] for r in rows))


async def table_intact(database: SecureDatabase) -> bool:
    """The schema is still the one migrate created (no payload dropped or altered anything)."""
    return await schema_of(database.owner_url) == database.schema


def raw_exchange(port: int, request: bytes, timeout: float = 5.0) -> bytes:
    """Sends raw bytes on a fresh connection and reads until the server closes or times out."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        # The server may answer early and close: then read what it said.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if not chunk:
                break
            chunks.append(chunk)
            if _complete(b"".join(chunks)):
                break
        return b"".join(chunks)


def _complete(data: bytes) -> bool:
    """One whole HTTP response with a Content-Length body has arrived."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def status_of(response: bytes) -> int:
    """The status code of a raw HTTP/1.1 response (0 if the server answered nothing)."""
    if not response:
        return 0
    return int(response.split(b" ", 2)[1])
