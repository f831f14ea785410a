"""The published patterns mean what the server means: every code point, both dialects.

JSON Schema reads `pattern` as ECMA-262; the server uses Python's `re`. Where the two dialects
differ (\\s, \\d, \\w, \\b, Unicode versions), a client validating with our own document would
refuse what the server accepts, or the reverse. So every BMP code point (and some astral ones)
goes into every position of each field's example, and the server's decision
(validation.parse_user) must equal an ECMA-262 engine's (Rust's regress) on the served schema.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import regress

from service.errors import BadRequest
from service.openapi import served_document
from service.user_resource import WRITABLE, TextField
from service.validation import parse_user

SCHEMAS: dict[str, Any] = json.loads(served_document())["components"]["schemas"]
# The string keywords this test evaluates; another keyword would need evaluating here too.
EVALUATED = {"type", "pattern", "minLength", "maxLength", "description", "examples"}
# Lone surrogates are no Unicode text: the server refuses them before any rule (and a UTF-8
# body cannot carry them), and an ECMA engine's view of them depends on its string encoding.
SURROGATES = range(0xD800, 0xE000)
ASTRAL = [0x10000, 0x1D11E, 0x1F600, 0xE0001, 0xE01EF, 0x10FFFF]
CODE_POINTS = [cp for cp in range(0x10000) if cp not in SURROGATES] + ASTRAL
# With /u, as JSON Schema validators mostly compile patterns (ajv, and the test suite's
# Unicode cases); test_patterns_are_valid_with_and_without_u covers the other mode's syntax.
FLAGS = "u"


def server_accepts(field: TextField, value: str) -> bool:
    try:
        parse_user({field.name: value}, partial=True)
    except BadRequest:
        return False
    return True


class EcmaSchema:
    """A field's published schema, decided as a JSON Schema validator does (ECMA-262 regex)."""

    def __init__(self, schema: dict[str, Any], flags: str | None) -> None:
        assert schema["type"] == "string"
        assert set(schema) <= EVALUATED, set(schema) - EVALUATED
        self.regex = regress.Regex(schema["pattern"], flags)
        self.min_length = schema.get("minLength", 0)
        self.max_length = schema.get("maxLength")

    def accepts(self, value: str) -> bool:
        # JSON Schema lengths count code points, as Python's len does.
        if len(value) < self.min_length:
            return False
        if self.max_length is not None and len(value) > self.max_length:
            return False
        return self.regex.find(value) is not None  # a search: the pattern anchors itself


def substitutions(example: str) -> Iterator[tuple[int, str]]:
    """The example with each position replaced by each code point."""
    for position in range(len(example)):
        before, after = example[:position], example[position + 1 :]
        for cp in CODE_POINTS:
            yield cp, before + chr(cp) + after


def disagreements(
    field: TextField, ecma: EcmaSchema, values: Iterator[tuple[int, str]]
) -> list[str]:
    found = []
    for cp, value in values:
        server = server_accepts(field, value)
        if server != ecma.accepts(value):
            found.append(f"U+{cp:04X} in {value!r}: server {'accepts' if server else 'refuses'}")
    return found


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_patterns_are_valid_with_and_without_u(field: TextField) -> None:
    for flags in ("u", None):
        regress.Regex(SCHEMAS[field.schema_name]["pattern"], flags)  # raises RegressError


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_every_code_point_at_every_position_is_decided_alike(field: TextField) -> None:
    ecma = EcmaSchema(SCHEMAS[field.schema_name], FLAGS)
    assert server_accepts(field, field.example) and ecma.accepts(field.example)
    found = disagreements(field, ecma, substitutions(field.example))
    assert found == [], f"{len(found)} disagreements, first: {found[:10]}"


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
def test_lengths_around_the_limits_are_decided_alike(field: TextField) -> None:
    ecma = EcmaSchema(SCHEMAS[field.schema_name], FLAGS)
    # The example stretched or cut by its first character (ASCII, or an astral one where the
    # field allows it: JSON Schema counts code points, not UTF-16 units).
    values = []
    for filler in ("a", "\U0001f600"):
        for length in range(field.max_length + 3):
            stretch = length - len(field.example)
            value = filler * stretch + field.example if stretch >= 0 else field.example[:length]
            values.append((ord(filler), value))
    found = disagreements(field, ecma, iter(values))
    assert found == [], found
