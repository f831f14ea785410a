"""API keys as configured: named, scoped (`read` or `write`), several at once so they can be
rotated. Parsing and hashing only (no HTTP here: service/auth.py checks requests).

The process keeps only SHA-256 digests of the keys. Keys are long random tokens, not
passwords, so an unsalted fast hash is enough: nobody can guess a preimage.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import Enum

_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_KEY = re.compile(r"[A-Za-z0-9_.~+/=\-]{20,256}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
