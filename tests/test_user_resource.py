"""The user resource's one definition (service/user_resource.py) against everything built on it:
the migrated table, the row mapping, request validation and the served OpenAPI schemas.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from jsonschema import Draft202012Validator

from service import users
from service.errors import BadRequest
from service.openapi import assemble, served_document, user_schemas
from service.state import DATABASE
from service.user_resource import COLUMNS, EMAIL, USERNAME, WRITABLE, WRITABLE_NAMES, TextField
from service.validation import parse_new_user, parse_user
from tests.helpers import Client

if TYPE_CHECKING:
    Conn = asyncpg.Connection[asyncpg.Record]

SPEC: dict[str, Any] = json.loads(served_document())
WRITTEN: dict[str, Any] = json.loads(
    resources.files("service").joinpath("openapi.json").read_text(encoding="utf-8")
)


# -- the definition against the migrations ----------------------------------------------------


async def test_columns_are_the_migrated_tables(db: Conn) -> None:
    migrated = await db.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
    )
    assert {r["column_name"] for r in migrated} == set(COLUMNS)


async def test_each_unique_constraint_exists(db: Conn) -> None:
    unique = {
        r["relname"]
        for r in await db.fetch(
            "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = 'users'::regclass AND i.indisunique AND NOT i.indisprimary"
        )
    }
    assert {f.unique_constraint for f in WRITABLE if f.unique_constraint} == unique


@pytest.mark.parametrize("field", WRITABLE, ids=lambda f: f.name)
async def test_the_database_refuses_the_lengths_the_definition_refuses(
    db: Conn, field: TextField
) -> None:
    # The migration's CHECK constraints are the last line of defence: same limits.
    lengths = [field.max_length + 1, *([field.min_length - 1] if field.min_length else [])]
    for length in lengths:
        row = {f.name: f"{f.example}{length}" for f in WRITABLE} | {field.name: "x" * length}
        with pytest.raises(asyncpg.CheckViolationError):
            await db.execute(
                f"INSERT INTO users ({', '.join(row)}) "  # noqa: S608 - the definition's names
                f"VALUES ({', '.join(f'${n}' for n in range(1, len(row) + 1))})",
                *row.values(),
            )


# -- the definition against the row mapping ---------------------------------------------------


async def test_a_stored_user_is_the_documented_json(client: Client) -> None:
    values = tuple(f.example for f in WRITABLE)
    async with client.app[DATABASE].connection() as conn:
        user = await users.insert_user(conn, *values)
        changed = await users.update_user(conn, user.id, *(None for _ in WRITABLE))
    assert user.writable == values
    assert changed is not None and changed.writable == values  # None keeps each value
    body = user.to_json()
    assert tuple(body) == COLUMNS  # members in the definition's order
    Draft202012Validator(
        {"$ref": "#/components/schemas/User", "components": SPEC["components"]},
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    ).validate(body)
    assert await (await client.get(f"/users/{user.id}")).json() == changed.to_json()


# -- the definition against request validation ------------------------------------------------


def test_the_examples_are_valid_requests() -> None:
    body = {f.name: f.example for f in WRITABLE}
    assert parse_new_user(body) == tuple(body.values())
    assert parse_user(body, partial=True).values == tuple(body.values())


@pytest.mark.parametrize(
    ("body", "message", "field"),
    [
        # The messages clients saw before the definition existed: unchanged.
        (
            {"username": "al"},
            "username must be 3 to 50 characters: letters, digits, '_', '.' or '-'",
            "username",
        ),
        (
            {"email": "a@nodot"},
            "email must look like name@example.com and be at most 100 characters",
            "email",
        ),
        ({}, "give at least one of: username, email", None),
        ({"admin": True}, "unknown field 'admin'; allowed: username, email", "admin"),
    ],
)
def test_messages_name_the_rule(body: dict[str, Any], message: str, field: str | None) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_user(body, partial=True)
    assert (refused.value.message, refused.value.field) == (message, field)


def test_a_missing_field_is_named_before_another_fields_rule() -> None:
    with pytest.raises(BadRequest) as refused:
        parse_user({"username": "x"}, partial=False)
    assert refused.value.field == "email"


def test_access_by_name_matches_the_definition_order() -> None:
    fields = parse_user({"email": EMAIL.example}, partial=True)
    assert (fields.get("username"), fields.get("email")) == (None, EMAIL.example)
    assert tuple(f.name for f in (USERNAME, EMAIL)) == WRITABLE_NAMES


@pytest.mark.parametrize(
    ("name", "pattern"),
    [("Email", "^a$"), ("e-mail", "^a$"), ("email; DROP", "^a$"), ("email", "a+"), ("email", "^a")],
)
def test_a_field_needs_an_identifier_and_an_anchored_pattern(name: str, pattern: str) -> None:
    with pytest.raises(ValueError, match=r"identifier|anchored"):
        TextField(name, pattern, max_length=1, error="", description="", example="a")


# -- the definition against the served document -----------------------------------------------


def test_openapi_json_writes_none_of_the_generated_schemas() -> None:
    assert WRITTEN["components"]["schemas"].keys() & user_schemas().keys() == set()


def test_a_schema_written_by_hand_too_is_refused() -> None:
    schemas = WRITTEN["components"]["schemas"]
    tampered = {**WRITTEN, "components": {"schemas": {**schemas, "Email": {"type": "string"}}}}
    with pytest.raises(ValueError, match="Email"):
        assemble(tampered)


def test_served_schemas_are_the_definitions() -> None:
    schemas = SPEC["components"]["schemas"]
    for f in WRITABLE:
        schema = schemas[f.schema_name]
        assert (schema["pattern"], schema["maxLength"]) == (f.pattern, f.max_length)
        assert schema.get("minLength", 0) == f.min_length
        assert schema["examples"] == [f.example]
    assert schemas["UserInput"]["required"] == list(WRITABLE_NAMES)
    assert list(schemas["UserPatch"]["properties"]) == list(WRITABLE_NAMES)
    assert schemas["User"]["required"] == list(COLUMNS) == list(schemas["User"]["properties"])
    # Every $ref of the assembled document, hand-written or generated, finds its schema.
    refs = re.findall(r'"\$ref": "#/components/schemas/([^"]+)"', json.dumps(SPEC))
    assert set(refs) <= schemas.keys()
