"""API keys: named, scoped (`read` or `write`), several at once so they can be rotated.

The process keeps only SHA-256 digests of the keys. Keys are long random tokens, not
passwords, so an unsalted fast hash is enough: nobody can guess a preimage, and comparing
digests in constant time leaks nothing about the key. Every configured key is compared on
every request (no early exit), so timing does not tell which key came closest either.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from aiohttp import web

from service.errors import ApiError
from service.keys import AUTH, METRICS, Handler

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_KEY = re.compile(r"[A-Za-z0-9_.~+/=\-]{20,256}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
KEY_NAME: web.RequestKey[str] = web.RequestKey("api_key_name", str)


class Scope(Enum):
    READ = "read"
    WRITE = "write"

    def allows(self, method: str) -> bool:
        return self is Scope.WRITE or method in SAFE_METHODS


@dataclass(frozen=True, slots=True)
class ApiKey:
    name: str
    scope: Scope
    digest: bytes  # sha256 of the key; the key itself is never kept


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="user-service"'})
        self.reason = reason


class Forbidden(ApiError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            headers={"WWW-Authenticate": 'Bearer realm="user-service", error="insufficient_scope"'},
        )
        self.reason = "insufficient_scope"


def digest(key: str) -> bytes:
    # surrogateescape: a header holding bytes that are not UTF-8 reaches us with them escaped as
    # lone surrogates; it hashes to its raw bytes (so matches no key) instead of raising.
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


def new_key() -> str:
    """256 random bits, URL-safe: what `python -m service new-key` prints."""
    return secrets.token_urlsafe(32)


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    """`name:scope:key` or `name:scope:sha256:<hex digest>`, comma-separated.

    Raises ValueError with a message that never contains a key.
    """
    keys: list[ApiKey] = []
    for position, entry in enumerate((e.strip() for e in raw.split(",")), start=1):
        if not entry:
            continue
        parts = entry.split(":", 2)
        if len(parts) != 3:
            raise ValueError(f"entry {position} is not name:scope:key")
        name, scope, secret = parts
        if not _NAME.fullmatch(name):
            raise ValueError(f"entry {position}: the name must be 1-64 of A-Z a-z 0-9 _ . -")
        try:
            parsed_scope = Scope(scope)
        except ValueError:
            raise ValueError(f"key {name!r}: scope must be read or write") from None
        if secret.startswith("sha256:"):
            hex_digest = secret.removeprefix("sha256:").lower()
            if not _DIGEST.fullmatch(hex_digest):
                raise ValueError(f"key {name!r}: sha256: must be followed by 64 hex digits")
            key_digest = bytes.fromhex(hex_digest)
        elif _KEY.fullmatch(secret):
            key_digest = digest(secret)
        else:
            raise ValueError(
                f"key {name!r}: a key must be 20-256 characters of A-Z a-z 0-9 _ . ~ + / = -"
            )
        if any(k.name == name for k in keys):
            raise ValueError(f"key name {name!r} is given twice")
        keys.append(ApiKey(name, parsed_scope, key_digest))
    return tuple(keys)


class Authenticator:
    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)

    def identify(self, authorization: str | None) -> ApiKey:
        if authorization is None:
            raise Unauthorized("missing Authorization: Bearer <API key>", "missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be: Bearer <API key>", "malformed")
        presented = digest(token)
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(presented, key.digest):
                found = key
        if found is None:
            raise Unauthorized("unknown API key", "unknown_key")
        return found

    def authorize(self, authorization: str | None, method: str) -> ApiKey:
        key = self.identify(authorization)
        if not key.scope.allows(method):
            raise Forbidden(f"API key {key.name!r} may only read")
        return key


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Guards /users; probes, metrics and the API document stay open."""
    authenticator = request.app[AUTH]
    if authenticator is None or not request.path.startswith("/users"):
        return await handler(request)
    try:
        key = authenticator.authorize(request.headers.get("Authorization"), request.method)
    except (Unauthorized, Forbidden) as exc:
        request.app[METRICS].auth_failures.labels(exc.reason).inc()
        raise
    request[KEY_NAME] = key.name
    return await handler(request)
