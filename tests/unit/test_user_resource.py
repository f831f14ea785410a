"""service/user_resource.py's TextField: what a field definition must be, and what it derives.

The shipped fields (username, email) are checked against the migration and the OpenAPI
document by tests/test_user_resource*.py; here, the definition itself, on fields made up for
the test (built at test time, so that every line of TextField runs under the test).
"""

from __future__ import annotations

import pytest

from service.user_resource import TextField


def text_field(name: str = "nickname", pattern: str = "^[a-z]+$", **more: object) -> TextField:
    return TextField(
        name=name,
        pattern=pattern,
        max_length=int(str(more.get("max_length", 8))),
        min_length=int(str(more.get("min_length", 2))),
        error=str(more.get("error", "must be {min_length} to {max_length} letters a-z")),
        description=str(more.get("description", "{min_length} to {max_length} letters.")),
        example="ada",
    )


@pytest.mark.parametrize(
    "name", ["Nickname", "nick-name", "1nick", "", "nick name", "nick;drop", "ník"]
)
def test_a_field_name_must_be_a_plain_lower_case_identifier(name: str) -> None:
    # Names become SQL column names (users.py composes its statements from them).
    with pytest.raises(ValueError, match="is not a lower-case SQL identifier") as refused:
        text_field(name=name)
    assert repr(name) in str(refused.value)


@pytest.mark.parametrize("name", ["nickname", "phone_number", "a", "x2"])
def test_plain_lower_case_identifiers_are_field_names(name: str) -> None:
    assert text_field(name=name).name == name


@pytest.mark.parametrize("pattern", ["[a-z]+", "^[a-z]+", "[a-z]+$", "$[a-z]+^"])
def test_a_pattern_must_be_anchored_at_both_ends(pattern: str) -> None:
    # JSON Schema's `pattern` is a search: unanchored, it would accept any text containing a match.
    with pytest.raises(ValueError, match=r"^nickname: the pattern must be anchored as \^\.\.\.\$$"):
        text_field(pattern=pattern)


def test_accepts_applies_the_pattern_and_both_lengths() -> None:
    field = text_field(pattern="^[a-z]+$", min_length=2, max_length=4)
    assert [field.accepts(v) for v in ("ab", "abcd")] == [True, True]
    assert [field.accepts(v) for v in ("a", "abcde", "aB", "ab1", "")] == [False] * 5


def test_messages_name_the_field_and_fill_in_its_lengths() -> None:
    field = text_field(min_length=2, max_length=4)
    assert field.error_message == "nickname must be 2 to 4 letters a-z"
    assert field.documentation == "2 to 4 letters."


@pytest.mark.parametrize(
    ("name", "schema"),
    [("email", "Email"), ("phone_number", "PhoneNumber"), ("a_b_c", "ABC")],
)
def test_the_openapi_component_name_is_the_field_name_in_pascal_case(
    name: str, schema: str
) -> None:
    assert text_field(name=name).schema_name == schema
