"""API_KEYS parsing: `name:scope:key` or `name:scope:sha256:<hex>`, comma-separated; only
digests are kept; a read key allows safe methods only; no error message ever holds a key."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from service.api_keys import SAFE_METHODS, ApiKey, Scope, digest, new_key, parse_api_keys

KEY = "key-0123456789abcdefghij"  # 24 characters, all of them allowed
OTHER_KEY = "other-0123456789abcdefghij"
SHA256_OF_ABC = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("scope", "method", "allowed"),
    [
        (Scope.READ, "GET", True),
        (Scope.READ, "HEAD", True),
        (Scope.READ, "OPTIONS", True),
        (Scope.READ, "POST", False),
        (Scope.READ, "PUT", False),
        (Scope.READ, "PATCH", False),
        (Scope.READ, "DELETE", False),
        (Scope.WRITE, "GET", True),
        (Scope.WRITE, "HEAD", True),
        (Scope.WRITE, "OPTIONS", True),
        (Scope.WRITE, "POST", True),
        (Scope.WRITE, "PUT", True),
        (Scope.WRITE, "PATCH", True),
        (Scope.WRITE, "DELETE", True),
    ],
)
def test_a_read_key_allows_safe_methods_only(scope: Scope, method: str, allowed: bool) -> None:
    assert scope.allows(method) is allowed


def test_safe_methods_are_the_ones_that_change_nothing() -> None:
    assert frozenset({"GET", "HEAD", "OPTIONS"}) == SAFE_METHODS


def test_digest_is_the_sha256_of_the_utf8_key() -> None:
    assert digest("abc").hex() == SHA256_OF_ABC
    assert digest("clé") == hashlib.sha256("clé".encode()).digest()


def test_a_header_that_is_not_utf8_hashes_its_raw_bytes_instead_of_raising() -> None:
    # aiohttp hands such header bytes over as lone surrogates (surrogateescape).
    assert digest("k\udcff") == hashlib.sha256(b"k\xff").digest()


def test_a_new_key_is_256_random_url_safe_bits_that_parse_as_a_key() -> None:
    key = new_key()
    assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert len(key) == 43
    assert key != new_key()
    assert parse_api_keys(f"ci:write:{key}") == (ApiKey("ci", Scope.WRITE, digest(key)),)


@pytest.mark.parametrize("raw", ["", " ", ",", " , ,, "])
def test_no_entries_means_no_keys(raw: str) -> None:
    assert parse_api_keys(raw) == ()


def test_entries_keep_their_order_name_scope_and_only_a_digest() -> None:
    keys = parse_api_keys(f" deploy:write:{KEY} ,, ci:read:{OTHER_KEY} ,")
    assert keys == (
        ApiKey("deploy", Scope.WRITE, digest(KEY)),
        ApiKey("ci", Scope.READ, digest(OTHER_KEY)),
    )
    assert KEY not in repr(keys) and OTHER_KEY not in repr(keys)


@pytest.mark.parametrize(
    "hex_digest", [SHA256_OF_ABC, SHA256_OF_ABC.upper()], ids=["lower case", "upper case"]
)
def test_a_key_can_be_given_by_its_sha256_digest(hex_digest: str) -> None:
    (key,) = parse_api_keys(f"ci:read:sha256:{hex_digest}")
    assert key == ApiKey("ci", Scope.READ, digest("abc"))


@pytest.mark.parametrize(
    "entry",
    [
        f"n:read:{'k' * 20}",
        f"n:read:{'k' * 256}",
        "n:read:Az09_.~+/=-Az09_.~+/=-",
        f"{'n' * 64}:read:{KEY}",
        f"N.a_m-e9:read:{KEY}",
        f"x:read:{KEY}",
    ],
    ids=["key of 20", "key of 256", "every key character", "name of 64", "name chars", "name of 1"],
)
def test_names_and_keys_within_the_limits_are_accepted(entry: str) -> None:
    name, _, key = entry.split(":", 2)
    assert parse_api_keys(entry) == (ApiKey(name, Scope.READ, digest(key)),)


NAME_RULE = "the name must be 1-64 of A-Z a-z 0-9 _ . -"
KEY_RULE = "a key must be 20-256 characters of A-Z a-z 0-9 _ . ~ + / = -"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (f"justakey{KEY}", "entry 1 is not name:scope:key"),
        (f"n:{KEY}", "entry 1 is not name:scope:key"),
        (f"a:read:{KEY},n-{KEY}", "entry 2 is not name:scope:key"),
        (f",n-{KEY}", "entry 2 is not name:scope:key"),
        (f":read:{KEY}", f"entry 1: {NAME_RULE}"),
        (f"{'n' * 65}:read:{KEY}", f"entry 1: {NAME_RULE}"),
        (f"bad name:read:{KEY}", f"entry 1: {NAME_RULE}"),
        (f"a:read:{KEY},b@c:read:{OTHER_KEY}", f"entry 2: {NAME_RULE}"),
        (f"n:admin:{KEY}", "key 'n': scope must be read or write"),
        (f"n:READ:{KEY}", "key 'n': scope must be read or write"),
        (f"n::{KEY}", "key 'n': scope must be read or write"),
        (f"n:read:{'k' * 19}", f"key 'n': {KEY_RULE}"),
        (f"n:read:{'k' * 257}", f"key 'n': {KEY_RULE}"),
        (f"n:read:{KEY}!", f"key 'n': {KEY_RULE}"),
        (f"n:read:{KEY}:more", f"key 'n': {KEY_RULE}"),
        (f"n:read:{KEY[:10]} {KEY[10:]}", f"key 'n': {KEY_RULE}"),
        ("n:read:", f"key 'n': {KEY_RULE}"),
        (
            f"n:read:sha256:{SHA256_OF_ABC[:-1]}",
            "key 'n': sha256: must be followed by 64 hex digits",
        ),
        (f"n:read:sha256:{SHA256_OF_ABC}0", "key 'n': sha256: must be followed by 64 hex digits"),
        (f"n:read:sha256:{'g' * 64}", "key 'n': sha256: must be followed by 64 hex digits"),
        ("n:read:sha256:", "key 'n': sha256: must be followed by 64 hex digits"),
        (f"n:read:{KEY},n:write:{OTHER_KEY}", "key name 'n' is given twice"),
        (f"n:read:{KEY},m:read:{OTHER_KEY},n:read:{KEY}", "key name 'n' is given twice"),
    ],
)
def test_malformed_entries_are_refused_without_echoing_the_key(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=rf"^{re.escape(message)}$") as raised:
        parse_api_keys(raw)
    for secret in (KEY, OTHER_KEY, KEY[:10], "k" * 19, SHA256_OF_ABC[:20]):
        assert secret not in str(raised.value)
