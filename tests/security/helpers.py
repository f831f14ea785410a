"""Secrets of the security run, and small raw-socket and database helpers."""

from __future__ import annotations

import contextlib
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import asyncpg

from service.users import iso8601

# Distinctive, random per run: if one of these shows up anywhere, it leaked from this run.
CAMPAIGN_KEY = f"campaign-key-{secrets.token_hex(16)}"
DB_PASSWORD = f"db-password-{secrets.token_hex(16)}"
CAMPAIGN_AUTH = {"Authorization": f"Bearer {CAMPAIGN_KEY}"}

Row = tuple[int, str, str]


@dataclass(frozen=True)
class SecureDatabase:
    owner_url: str  # the owner (superuser) on the module's database: for assertions
    app_url: str  # the least-privileged app role, with DB_PASSWORD: what the service uses


def as_role(url: str, role: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{role}:{password}@{parts.hostname}:{parts.port}").geturl()


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


async def table_intact(url: str) -> bool:
    """The users table and its constraints are still there (no payload dropped or altered it)."""
    conn = await asyncpg.connect(url)
    try:
        constraints = await conn.fetchval(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = 'users'::regclass"
        )
        columns = await conn.fetchval(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'users'"
        )
    finally:
        await conn.close()
    return bool(constraints == 4 and columns == 5)


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
