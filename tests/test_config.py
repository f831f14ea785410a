"""Settings from the environment: defaults, every invalid value, the CLI's exit 2, .env.example."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest

from service.config import VARIABLES, ConfigError, Settings, redact_url
from tests.helpers import REPO
from tests.procs import clean_environ, run_cli

PASSWORD = "S3cret-config-7f2a"


def test_defaults() -> None:
    assert Settings.from_env({}) == Settings(
        database_url=None,
        use_libpq_env=False,
        ssl_mode="prefer",
        ssl_root_cert=None,
        host="0.0.0.0",  # noqa: S104 - the container default, asserted
        host_set=False,
        port=8080,
        log_level="INFO",
        pool_min_size=2,
        pool_max_size=10,
        connect_timeout=5.0,
        request_timeout=5.0,
        acquire_timeout=2.0,
        statement_timeout=5.0,
        transaction_pooling=False,
        max_body_bytes=65536,
        readiness_timeout=1.0,
        readiness_cache_seconds=1.0,
        keepalive_timeout=75.0,
        drain_delay=5.0,
        shutdown_timeout=20.0,
        api_keys=(),
        auth_disabled=False,
        metrics_port=None,
        docs_enabled=True,
        app_db_user=None,
        app_db_password=None,
        tracing=None,
    )


def test_documented_defaults_are_the_defaults() -> None:
    documented = {v.name: v.default for v in VARIABLES if v.default is not None}
    # Only whether HOST was given may differ: the embedded run picks its own when it was not.
    assert replace(Settings.from_env(documented), host_set=False) == Settings.from_env({})


def test_blank_values_mean_the_default_and_levels_ignore_case() -> None:
    settings = Settings.from_env({"PORT": "  ", "LOG_LEVEL": "debug", "DATABASE_URL": ""})
    assert (settings.port, settings.log_level, settings.database_url) == (8080, "DEBUG", None)
    assert not settings.database_configured


def test_database_url_wins_over_pg_variables() -> None:
    libpq = Settings.from_env({"PGHOST": "db.internal"})
    assert libpq.use_libpq_env and libpq.database_configured and libpq.database_url is None
    url = Settings.from_env({"PGHOST": "db.internal", "DATABASE_URL": "postgres://h/db"})
    assert not url.use_libpq_env and url.database_url == "postgres://h/db"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "0"}, "PORT"),
        ({"PORT": "65536"}, "PORT"),
        ({"PORT": "80.5"}, "PORT"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"DB_POOL_MIN_SIZE": "-1"}, "DB_POOL_MIN_SIZE"),
        ({"DB_POOL_MIN_SIZE": "two"}, "DB_POOL_MIN_SIZE"),
        ({"DB_POOL_MAX_SIZE": "0"}, "DB_POOL_MAX_SIZE"),
        ({"DB_POOL_MAX_SIZE": "1001"}, "DB_POOL_MAX_SIZE"),
        ({"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "3"}, "DB_POOL_MIN_SIZE"),
        ({"DB_CONNECT_TIMEOUT_SECONDS": "0"}, "DB_CONNECT_TIMEOUT_SECONDS"),
        ({"DB_CONNECT_TIMEOUT_SECONDS": "soon"}, "DB_CONNECT_TIMEOUT_SECONDS"),
        ({"DB_ACQUIRE_TIMEOUT_SECONDS": "nan"}, "DB_ACQUIRE_TIMEOUT_SECONDS"),
        ({"DB_ACQUIRE_TIMEOUT_SECONDS": "inf"}, "DB_ACQUIRE_TIMEOUT_SECONDS"),
        ({"DB_STATEMENT_TIMEOUT_SECONDS": "-1"}, "DB_STATEMENT_TIMEOUT_SECONDS"),
        ({"DB_REQUEST_TIMEOUT_SECONDS": "0"}, "DB_REQUEST_TIMEOUT_SECONDS"),
        (
            {"DB_REQUEST_TIMEOUT_SECONDS": "3", "DB_ACQUIRE_TIMEOUT_SECONDS": "4"},
            "DB_ACQUIRE_TIMEOUT_SECONDS",
        ),
        ({"MAX_BODY_BYTES": "100"}, "MAX_BODY_BYTES"),
        ({"MAX_BODY_BYTES": "1e6"}, "MAX_BODY_BYTES"),
        ({"READINESS_TIMEOUT_SECONDS": "0"}, "READINESS_TIMEOUT_SECONDS"),
        ({"READINESS_CACHE_SECONDS": "-0.5"}, "READINESS_CACHE_SECONDS"),
        ({"READINESS_CACHE_SECONDS": "61"}, "READINESS_CACHE_SECONDS"),
        ({"DRAIN_DELAY_SECONDS": "301"}, "DRAIN_DELAY_SECONDS"),
        ({"DRAIN_DELAY_SECONDS": "-inf"}, "DRAIN_DELAY_SECONDS"),
        ({"SHUTDOWN_TIMEOUT_SECONDS": "3601"}, "SHUTDOWN_TIMEOUT_SECONDS"),
        ({"DATABASE_URL": f"mysql://root:{PASSWORD}@db/app"}, "DATABASE_URL"),
        ({"DATABASE_URL": f"postgresql://u:{PASSWORD}@db:notaport/app"}, "DATABASE_URL"),
        ({"DATABASE_URL": f"postgresql://u:{PASSWORD}@db:99999/app"}, "DATABASE_URL"),
        ({"DATABASE_URL": "db.internal:5432"}, "DATABASE_URL"),
    ],
)
def test_invalid_values_are_refused_naming_the_variable(
    environ: dict[str, str], variable: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    assert PASSWORD not in str(raised.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://app:{PASSWORD}@db:5432/users", "postgresql://app:***@db:5432/users"),
        (f"postgresql://app:{PASSWORD}@db/users?sslmode=require", "postgresql://app:***@db/users"),
        (f"postgresql://db/users?user=app&password={PASSWORD}", "postgresql://db/users"),
        (
            f"postgresql://db/users?sslpassword={PASSWORD}&sslmode=verify-full&sslrootcert=ca.pem",
            "postgresql://db/",
        ),
        ("postgresql://app@db/users", "postgresql://app@db/users"),
    ],
)
def test_redacted_settings_never_hold_a_password(url: str, shown: str) -> None:
    redacted = Settings.from_env({"DATABASE_URL": url}).redacted()
    assert PASSWORD not in repr(redacted)
    assert redacted["database_url"].startswith(shown)
    assert redact_url(url) == redacted["database_url"]


@dataclass(frozen=True)
class Case:
    environ: dict[str, str]
    variable: str


@pytest.mark.parametrize(
    "case",
    [
        Case({"PORT": "abc"}, "PORT"),
        Case({"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "3"}, "DB_POOL_MIN_SIZE"),
        Case({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        Case({"DATABASE_URL": f"mysql://root:{PASSWORD}@127.0.0.1/app"}, "DATABASE_URL"),
        Case({"DATABASE_URL": f"postgresql://u:{PASSWORD}@127.0.0.1:x/app"}, "DATABASE_URL"),
    ],
    ids=lambda case: "+".join(case.environ),
)
def test_serve_with_an_invalid_variable_exits_2_with_one_line_naming_it(case: Case) -> None:
    result = run_cli(["serve"], clean_environ(**case.environ), timeout=15)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"user-service: configuration error: {case.variable}: ")
    assert PASSWORD not in result.stderr


def read_env_example() -> list[tuple[str, str | None, str]]:
    """(name, default or None when commented out, the comment above it) per variable."""
    text = (REPO / ".env.example").read_text()
    blocks = text.strip().split("\n\n")[1:]  # the first block is the file's own header
    entries = []
    for block in blocks:
        *comment, assignment = block.splitlines()
        assert all(line.startswith("# ") for line in comment), block
        match = re.fullmatch(r"(# )?([A-Z][A-Z0-9_]*)=(.*)", assignment)
        assert match is not None, assignment
        commented, name, default = match.groups()
        assert (default == "") == bool(commented), f"{name}: only unset variables are commented"
        help_text = " ".join(line[2:] for line in comment)
        entries.append((name, None if commented else default, help_text))
    return entries


def test_env_example_lists_every_variable_with_its_default_and_meaning() -> None:
    expected = [(v.name, v.default, v.help) for v in VARIABLES]
    assert read_env_example() == expected


def test_readme_configuration_table_lists_every_variable() -> None:
    readme = (REPO / "README.md").read_text()
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]*)` \| (?:`([^`]*)`|—) \| (.*) \|$", readme, re.M)
    assert [(name, default or None, text) for name, default, text in rows] == [
        (v.name, v.default, v.help) for v in VARIABLES
    ]


def test_settings_know_whether_host_was_given() -> None:
    # The embedded run binds loopback unless HOST was given, even HOST=0.0.0.0.
    assert Settings.from_env({}).host_set is False
    given = Settings.from_env({"HOST": "0.0.0.0"})  # noqa: S104 - asserted, not bound
    assert (given.host, given.host_set) == ("0.0.0.0", True)  # noqa: S104
    assert Settings.from_env({"HOST": "  "}).host_set is False
