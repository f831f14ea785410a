"""The user resource, described once: its writable fields with their rules, and its row shape.

users.py (SQL columns, row -> JSON), validation.py (request rules and their 400 messages) and
openapi.py (the served document's Username, Email, UserInput, UserPatch and User schemas) all
read this module. Adding a field: the migration, a TextField in WRITABLE, its tests, the README
(and handlers.py while it names username and email rather than passing the values through).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# SQL is composed from field names (users.py), so a name must be a plain lower-case identifier.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")

# Whitespace and control characters, written out code point by code point: Python's \s and
# ECMA-262's \s (how JSON Schema reads our published patterns) differ (U+FEFF, U+001C-U+001F,
# U+0085) and follow each engine's Unicode version. This class is the union of both, plus
# the C0 and C1 controls and DEL, and reads the same in Python's `re` and ECMA-262, with or
# without /u.
_SPACES_AND_CONTROLS = (
    r"\u0000-\u0020\u007f-\u00a0\u1680\u2000-\u200a"
    r"\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_EMAIL_PART = rf"[^@{_SPACES_AND_CONTROLS}.]+"


@dataclass(frozen=True, slots=True)
class TextField:
    """A writable string field: the rule the server enforces and the API documents.

    `pattern` is one string for both dialects: Python's `re` (with fullmatch, so `$` cannot
    match before a final newline) and ECMA-262 (JSON Schema's `pattern`, a search, hence the
    ^...$ anchors). Only constructs both
    read alike: [...] classes of explicit code points, \\uXXXX escapes, quantifiers, (?:...).
    Never \\s, \\d, \\w or \\b. `error` and `description` may name {min_length} and {max_length}.
    """

    name: str
    pattern: str
    max_length: int
    error: str
    description: str
    example: str
    min_length: int = 0
    # The unique constraint (migrations) that makes a duplicate value a 409 naming this field.
    unique_constraint: str | None = None
    _regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if _IDENTIFIER.fullmatch(self.name) is None:
            raise ValueError(f"field name {self.name!r} is not a lower-case SQL identifier")
        if not (self.pattern.startswith("^") and self.pattern.endswith("$")):
            raise ValueError(f"{self.name}: the pattern must be anchored as ^...$")
        object.__setattr__(self, "_regex", re.compile(self.pattern))

    def accepts(self, value: str) -> bool:
        # The length first: it bounds the regex's work.
        return self.min_length <= len(value) <= self.max_length and (
            self._regex.fullmatch(value) is not None
        )

    @property
    def error_message(self) -> str:
        """The 400 message for a value this field refuses."""
        return f"{self.name} {self._filled(self.error)}"

    @property
    def documentation(self) -> str:
        return self._filled(self.description)

    @property
    def schema_name(self) -> str:
        """Its OpenAPI component: email -> Email, phone_number -> PhoneNumber."""
        return "".join(part.title() for part in self.name.split("_"))

    def _filled(self, template: str) -> str:
        return template.format(min_length=self.min_length, max_length=self.max_length)


USERNAME = TextField(
    name="username",
    pattern="^[A-Za-z0-9_.-]+$",
    min_length=3,
    max_length=50,
    error="must be {min_length} to {max_length} characters: letters, digits, '_', '.' or '-'",
    description="{min_length} to {max_length} letters, digits, '_', '.' or '-'; unique.",
    example="ada",
    unique_constraint="users_username_key",
)

EMAIL = TextField(
    name="email",
    # A plausible local@domain.tld: no spaces, controls or extra @, a dot-separated domain.
    pattern=rf"^[^@{_SPACES_AND_CONTROLS}]+@{_EMAIL_PART}(?:\.{_EMAIL_PART})+$",
    max_length=100,
    error="must look like name@example.com and be at most {max_length} characters",
    description=(
        "At most {max_length} characters, shaped like name@example.com, without whitespace or "
        "control characters; unique whatever its case."
    ),
    example="ada@example.org",
    unique_constraint="users_email_lower_key",
)

# The fields a client writes, in the order of the row, of User.writable and of the JSON.
WRITABLE: tuple[TextField, ...] = (USERNAME, EMAIL)
WRITABLE_NAMES: tuple[str, ...] = tuple(f.name for f in WRITABLE)

# The row and the JSON object: the database's id, the writable fields, its two timestamps.
TIMESTAMPS = {
    "created_at": "ISO 8601, UTC.",
    "updated_at": "ISO 8601, UTC; changes on every update.",
}
COLUMNS: tuple[str, ...] = ("id", *WRITABLE_NAMES, *TIMESTAMPS)
