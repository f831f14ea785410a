"""The served OpenAPI document: service/openapi.json, with the user resource's schemas.

openapi.json holds what is written by hand (paths, responses, the other components); the
schemas of the user and its fields come from service/user_resource.py, so each rule lives in
one place. Built once, when the app is created.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from service.user_resource import TIMESTAMPS, WRITABLE, TextField


def served_document() -> bytes:
    """The document /openapi.json answers with."""
    written = resources.files("service").joinpath("openapi.json").read_text(encoding="utf-8")
    return json.dumps(assemble(json.loads(written)), indent=2, ensure_ascii=False).encode()


def assemble(written: dict[str, Any]) -> dict[str, Any]:
    """openapi.json's content with the user resource's schemas added."""
    schemas: dict[str, Any] = written["components"]["schemas"]
    generated = user_schemas()
    # A schema written in both places would be two sources for one fact: refuse to start.
    twice = sorted(schemas.keys() & generated.keys())
    if twice:
        raise ValueError(f"openapi.json must not write the user resource's schemas: {twice}")
    return {**written, "components": {**written["components"], "schemas": {**generated, **schemas}}}


def user_schemas() -> dict[str, Any]:
    """The component schemas of the user resource: one per field, UserInput, UserPatch, User."""
    refs = {f.name: {"$ref": f"#/components/schemas/{f.schema_name}"} for f in WRITABLE}
    timestamps = {
        name: {"type": "string", "format": "date-time", "description": description}
        for name, description in TIMESTAMPS.items()
    }
    return {
        **{f.schema_name: field_schema(f) for f in WRITABLE},
        "UserInput": {
            "type": "object",
            "additionalProperties": False,
            "required": list(refs),
            "properties": refs,
        },
        "UserPatch": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": refs,
        },
        "User": {
            "type": "object",
            "additionalProperties": False,
            "required": ["id", *refs, *timestamps],
            "properties": {"id": {"type": "integer", "minimum": 1}, **refs, **timestamps},
        },
    }


def field_schema(field: TextField) -> dict[str, Any]:
    length = {"minLength": field.min_length} if field.min_length else {}
    return {
        "type": "string",
        **length,
        "maxLength": field.max_length,
        "pattern": field.pattern,
        "description": field.documentation,
        "examples": [field.example],
    }
