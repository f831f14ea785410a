"""Settings.from_env on plain dicts: every variable's default, bounds (accepted exactly at the
limits, refused just past them) and message, the ConfigError naming the variable, cross-checks,
TLS and tracing settings, and secrets that no message or redacted view ever shows.

The CLI side (exit code 2, one line on stderr) is tested in tests/test_config.py."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from service.api_keys import ApiKey, Scope, digest
from service.config import (
    SSL_MODES,
    TRACES_SAMPLERS,
    VARIABLES,
    ConfigError,
    Settings,
    TracingSettings,
    redact_url,
)

PASSWORD = "S3cret-unit-9c1e"
KEY = "unit-key-0123456789abcdef"


def refusal(environ: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(environ)
    return raised.value


def test_a_config_error_names_its_variable_first() -> None:
    error = ConfigError("PORT", "'abc' is not a whole number")
    assert error.variable == "PORT"
    assert str(error) == "PORT: 'abc' is not a whole number"


def test_an_empty_environment_gives_the_documented_defaults() -> None:
    settings = Settings.from_env({})
    documented = {v.name: v.default for v in VARIABLES}
    assert (settings.host, str(settings.port), settings.log_level) == (
        documented["HOST"],
        documented["PORT"],
        documented["LOG_LEVEL"],
    )
    assert (settings.pool_min_size, settings.pool_max_size, settings.max_body_bytes) == (
        2,
        10,
        65536,
    )
    assert (settings.connect_timeout, settings.request_timeout, settings.acquire_timeout) == (
        5.0,
        5.0,
        2.0,
    )
    assert (settings.statement_timeout, settings.readiness_timeout) == (5.0, 1.0)
    assert (settings.readiness_cache_seconds, settings.keepalive_timeout) == (1.0, 75.0)
    assert (settings.drain_delay, settings.shutdown_timeout) == (5.0, 20.0)
    assert (settings.ssl_mode, settings.ssl_root_cert) == ("prefer", None)
    assert (settings.database_url, settings.use_libpq_env, settings.database_configured) == (
        None,
        False,
        False,
    )
    assert (settings.api_keys, settings.auth_disabled, settings.docs_enabled) == ((), False, True)
    assert (settings.metrics_port, settings.app_db_user, settings.app_db_password) == (
        None,
        None,
        None,
    )
    assert settings.tracing is None


def test_values_are_stripped_and_blank_means_the_default() -> None:
    settings = Settings.from_env({"PORT": " 9000 ", "HOST": "\t", "LOG_LEVEL": "  "})
    assert (settings.port, settings.host, settings.log_level) == (9000, "0.0.0.0", "INFO")  # noqa: S104
    assert Settings.from_env({"HOST": "127.0.0.1"}).host == "127.0.0.1"


@pytest.mark.parametrize(
    ("environ", "host_set"),
    [({}, False), ({"HOST": " "}, False), ({"HOST": "0.0.0.0"}, True), ({"HOST": "::1"}, True)],  # noqa: S104
)
def test_a_host_given_even_as_the_default_is_told_from_none_given(
    environ: dict[str, str], host_set: bool
) -> None:
    # The keyless embedded development run binds 127.0.0.1 unless HOST was given.
    assert Settings.from_env(environ).host_set is host_set


@dataclass(frozen=True)
class Bounds:
    """A numeric variable: accepted at `low` and `high`, refused at `below` and `above`."""

    variable: str
    field: str
    low: str
    high: str
    below: str
    above: str
    unit: str  # the message's unit: "" for whole numbers, " seconds" for durations
    # Other variables set so that only this one's bounds are in play (pool min <= max, ...).
    context: tuple[tuple[str, str], ...] = ()


def whole(variable: str, field: str, low: int, high: int, **context: str) -> Bounds:
    return Bounds(
        variable,
        field,
        str(low),
        str(high),
        str(low - 1),
        str(high + 1),
        "",
        tuple(context.items()),
    )


def seconds(variable: str, field: str, low: str, high: str, below: str, **context: str) -> Bounds:
    above = f"{high}.001"
    return Bounds(variable, field, low, high, below, above, " seconds", tuple(context.items()))


BOUNDS = [
    whole("PORT", "port", 1, 65535),
    whole("METRICS_PORT", "metrics_port", 1, 65535),
    whole("DB_POOL_MIN_SIZE", "pool_min_size", 0, 1000, DB_POOL_MAX_SIZE="1000"),
    whole("DB_POOL_MAX_SIZE", "pool_max_size", 1, 1000, DB_POOL_MIN_SIZE="0"),
    whole("MAX_BODY_BYTES", "max_body_bytes", 256, 64 * 1024 * 1024),
    seconds("DB_CONNECT_TIMEOUT_SECONDS", "connect_timeout", "0.1", "300", "0.099"),
    seconds(
        "DB_REQUEST_TIMEOUT_SECONDS",
        "request_timeout",
        "0.01",
        "3600",
        "0.009",
        DB_ACQUIRE_TIMEOUT_SECONDS="0.01",
    ),
    seconds(
        "DB_ACQUIRE_TIMEOUT_SECONDS",
        "acquire_timeout",
        "0.01",
        "300",
        "0.009",
        DB_REQUEST_TIMEOUT_SECONDS="3600",
    ),
    seconds("DB_STATEMENT_TIMEOUT_SECONDS", "statement_timeout", "0.001", "3600", "0.0009"),
    seconds("READINESS_TIMEOUT_SECONDS", "readiness_timeout", "0.01", "60", "0.009"),
    seconds("READINESS_CACHE_SECONDS", "readiness_cache_seconds", "0", "60", "-0.001"),
    seconds("KEEPALIVE_TIMEOUT_SECONDS", "keepalive_timeout", "1", "3600", "0.999"),
    seconds("DRAIN_DELAY_SECONDS", "drain_delay", "0", "300", "-0.001"),
    seconds("SHUTDOWN_TIMEOUT_SECONDS", "shutdown_timeout", "0", "3600", "-0.001"),
]


def by_variable(bounds: Bounds) -> str:
    return bounds.variable


@pytest.mark.parametrize("bounds", BOUNDS, ids=by_variable)
def test_numbers_exactly_at_the_limits_are_accepted(bounds: Bounds) -> None:
    for raw in (bounds.low, bounds.high):
        settings = Settings.from_env({**dict(bounds.context), bounds.variable: raw})
        assert getattr(settings, bounds.field) == float(raw), raw


@pytest.mark.parametrize("bounds", BOUNDS, ids=by_variable)
def test_numbers_just_past_the_limits_are_refused_naming_the_variable(bounds: Bounds) -> None:
    for raw in (bounds.below, bounds.above):
        error = refusal({**dict(bounds.context), bounds.variable: raw})
        assert error.variable == bounds.variable
        assert str(error) == (
            f"{bounds.variable}: {raw!r} is not between {bounds.low} and {bounds.high}{bounds.unit}"
        )


@pytest.mark.parametrize("bounds", [b for b in BOUNDS if not b.unit], ids=by_variable)
@pytest.mark.parametrize("raw", ["abc", "80.5", "1e3", "0x10", "2 3"])
def test_whole_numbers_refuse_anything_else(bounds: Bounds, raw: str) -> None:
    assert (
        str(refusal({bounds.variable: raw})) == f"{bounds.variable}: {raw!r} is not a whole number"
    )


@pytest.mark.parametrize("bounds", [b for b in BOUNDS if b.unit], ids=by_variable)
def test_durations_refuse_words_and_non_finite_numbers(bounds: Bounds) -> None:
    context = dict(bounds.context)
    assert str(refusal({**context, bounds.variable: "soon"})) == (
        f"{bounds.variable}: 'soon' is not a number of seconds"
    )
    for raw in ("nan", "inf", "-inf", "1e400"):
        assert str(refusal({**context, bounds.variable: raw})) == (
            f"{bounds.variable}: {raw!r} is not between {bounds.low} and {bounds.high} seconds"
        )


def test_a_duration_may_be_fractional() -> None:
    assert Settings.from_env({"DRAIN_DELAY_SECONDS": "2.5"}).drain_delay == 2.5


def test_the_pool_may_be_fixed_size_but_not_smaller_than_its_minimum() -> None:
    fixed = Settings.from_env({"DB_POOL_MIN_SIZE": "5", "DB_POOL_MAX_SIZE": "5"})
    assert (fixed.pool_min_size, fixed.pool_max_size) == (5, 5)
    assert str(refusal({"DB_POOL_MIN_SIZE": "6", "DB_POOL_MAX_SIZE": "5"})) == (
        "DB_POOL_MIN_SIZE: 6 is more than DB_POOL_MAX_SIZE (5)"
    )


def test_the_wait_for_a_connection_fits_in_the_request_deadline() -> None:
    equal = {"DB_REQUEST_TIMEOUT_SECONDS": "3", "DB_ACQUIRE_TIMEOUT_SECONDS": "3"}
    assert Settings.from_env(equal).acquire_timeout == 3.0
    assert str(refusal({**equal, "DB_ACQUIRE_TIMEOUT_SECONDS": "3.5"})) == (
        "DB_ACQUIRE_TIMEOUT_SECONDS: 3.5 is more than DB_REQUEST_TIMEOUT_SECONDS (3), "
        "the deadline of a request's whole database work"
    )


def test_metrics_get_a_port_of_their_own_or_none() -> None:
    assert Settings.from_env({"METRICS_PORT": "9100"}).metrics_port == 9100
    assert Settings.from_env({"METRICS_PORT": " "}).metrics_port is None
    assert str(refusal({"METRICS_PORT": "8080"})) == (
        "METRICS_PORT: 8080 is PORT too; unset it to share"
    )
    assert str(refusal({"PORT": "9100", "METRICS_PORT": "9100"})).startswith("METRICS_PORT: 9100 ")


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_log_levels_ignore_case(level: str) -> None:
    assert Settings.from_env({"LOG_LEVEL": level}).log_level == level
    assert Settings.from_env({"LOG_LEVEL": level.lower()}).log_level == level


def test_an_unknown_log_level_is_refused_listing_the_levels() -> None:
    assert str(refusal({"LOG_LEVEL": "loud"})) == (
        "LOG_LEVEL: 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
    )


BOOLEANS = [
    ("AUTH_DISABLED", "auth_disabled"),
    ("DOCS_ENABLED", "docs_enabled"),
    ("DB_TRANSACTION_POOLING", "transaction_pooling"),
]


@pytest.mark.parametrize(("variable", "field"), BOOLEANS)
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Yes", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("NO", False),
    ],
)
def test_booleans_are_true_1_yes_or_false_0_no(
    variable: str, field: str, raw: str, value: bool
) -> None:
    assert getattr(Settings.from_env({variable: raw}), field) is value


@pytest.mark.parametrize(("variable", "field"), BOOLEANS)
@pytest.mark.parametrize("raw", ["maybe", "on", "off", "2", "y"])
def test_other_booleans_are_refused(variable: str, field: str, raw: str) -> None:
    assert str(refusal({variable: raw})) == f"{variable}: {raw!r} is not true or false"


@pytest.mark.parametrize("url", ["postgresql://h/db", "postgres://h/db"])
def test_database_url_takes_both_postgres_schemes(url: str) -> None:
    settings = Settings.from_env({"DATABASE_URL": url})
    assert (settings.database_url, settings.database_configured) == (url, True)


@pytest.mark.parametrize(
    "url",
    [
        f"mysql://root:{PASSWORD}@db/app",
        f"http://u:{PASSWORD}@db/app",
        "db.internal:5432",
        "//db/app",
    ],
)
def test_database_url_of_another_scheme_is_refused_without_echoing_it(url: str) -> None:
    error = refusal({"DATABASE_URL": url})
    assert str(error) == "DATABASE_URL: must start with postgresql:// or postgres://"


@pytest.mark.parametrize(
    "url",
    [
        f"postgresql://u:{PASSWORD}@db:notaport/app",
        f"postgresql://u:{PASSWORD}@db:99999/app",
        f"postgresql://u:{PASSWORD}@[db/app",
    ],
)
def test_a_malformed_database_url_is_refused_without_echoing_it(url: str) -> None:
    error = refusal({"DATABASE_URL": url})
    assert error.variable == "DATABASE_URL"
    assert str(error).startswith("DATABASE_URL: not a valid URL (")
    assert str(error).endswith(")")
    assert PASSWORD not in str(error)


def test_pg_variables_configure_a_database_unless_database_url_is_set() -> None:
    libpq = Settings.from_env({"PGHOST": "db.internal"})
    assert (libpq.use_libpq_env, libpq.database_configured, libpq.database_url) == (
        True,
        True,
        None,
    )
    both = Settings.from_env({"PGHOST": "db.internal", "DATABASE_URL": "postgres://h/db"})
    assert (both.use_libpq_env, both.database_url) == (False, "postgres://h/db")


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require"])
def test_tls_modes_that_need_no_ca_file(mode: str) -> None:
    settings = Settings.from_env({"PGSSLMODE": mode})
    assert (settings.ssl_mode, settings.ssl_root_cert) == (mode, None)


@pytest.mark.parametrize("mode", ["require", "verify-ca", "verify-full"])
def test_tls_modes_that_check_a_ca_file(mode: str) -> None:
    settings = Settings.from_env({"PGSSLMODE": mode, "PGSSLROOTCERT": "/ca.pem"})
    assert (settings.ssl_mode, settings.ssl_root_cert) == (mode, "/ca.pem")
    assert settings.ssl_root_cert_variable == "PGSSLROOTCERT"


def test_an_unknown_tls_mode_is_refused_naming_where_it_came_from() -> None:
    modes = ", ".join(SSL_MODES)
    assert str(refusal({"PGSSLMODE": "verify"})) == (
        f"PGSSLMODE: sslmode 'verify' is not one of {modes}"
    )
    in_url = refusal({"DATABASE_URL": "postgresql://h/db?sslmode=on", "PGSSLMODE": "require"})
    assert str(in_url) == f"DATABASE_URL: sslmode 'on' is not one of {modes}"


@pytest.mark.parametrize("mode", ["verify-ca", "verify-full"])
def test_verifying_modes_need_a_ca_file(mode: str) -> None:
    assert str(refusal({"PGSSLMODE": mode})) == (
        f"PGSSLROOTCERT: not set: sslmode {mode} checks the database's certificate against the "
        "CA certificates in this file (for managed databases, their CA bundle)"
    )


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer"])
def test_a_ca_file_with_a_mode_that_never_checks_it_is_refused(mode: str) -> None:
    message = (
        f"sslmode {mode} never checks the database's certificate, yet a CA file is given: "
        "use verify-full (or verify-ca), or give no CA file"
    )
    assert str(refusal({"PGSSLMODE": mode, "PGSSLROOTCERT": "/ca.pem"})) == f"PGSSLMODE: {message}"
    in_url = f"postgresql://h/db?sslmode={mode}&sslrootcert=/ca.pem"
    assert str(refusal({"DATABASE_URL": in_url})) == f"DATABASE_URL: {message}"


def test_the_url_wins_over_pgsslmode_and_pgsslrootcert_as_in_libpq() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://h/db?sslmode=verify-full&sslrootcert=/url-ca.pem",
            "PGSSLMODE": "disable",
            "PGSSLROOTCERT": "/env-ca.pem",
        }
    )
    assert (settings.ssl_mode, settings.ssl_root_cert) == ("verify-full", "/url-ca.pem")
    assert settings.ssl_root_cert_variable == "DATABASE_URL"


def test_empty_tls_parameters_in_the_url_fall_back_to_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://h/db?sslmode=&sslrootcert=",
            "PGSSLMODE": "verify-ca",
            "PGSSLROOTCERT": "/env-ca.pem",
        }
    )
    assert (settings.ssl_mode, settings.ssl_root_cert) == ("verify-ca", "/env-ca.pem")
    assert settings.ssl_root_cert_variable == "PGSSLROOTCERT"


def test_api_keys_are_parsed_into_digests() -> None:
    settings = Settings.from_env({"API_KEYS": f"ci:read:{KEY}"})
    assert settings.api_keys == (ApiKey("ci", Scope.READ, digest(KEY)),)


def test_secret_variables_are_the_ones_holding_passwords_or_keys() -> None:
    secrets = {v.name for v in VARIABLES if v.secret}
    assert secrets == {"DATABASE_URL", "PGPASSWORD", "API_KEYS", "APP_DB_PASSWORD"}


def test_a_malformed_secret_is_never_echoed_but_other_values_are() -> None:
    assert str(refusal({"API_KEYS": f"{KEY}"})) == "API_KEYS: entry 1 is not name:scope:key"
    assert str(refusal({"PORT": "http"})) == "PORT: 'http' is not a whole number"


@pytest.mark.parametrize("user", ["a", "user_service_app", "r" + "0" * 62])
def test_an_app_role_and_its_password_go_together(user: str) -> None:
    settings = Settings.from_env({"APP_DB_USER": user, "APP_DB_PASSWORD": PASSWORD})
    assert (settings.app_db_user, settings.app_db_password) == (user, PASSWORD)


@pytest.mark.parametrize("user", ["1app", "App", "app-role", "app role", "_app", "r" + "0" * 63])
def test_an_app_role_name_postgresql_would_need_quoted_is_refused(user: str) -> None:
    error = refusal({"APP_DB_USER": user, "APP_DB_PASSWORD": PASSWORD})
    assert str(error) == "APP_DB_USER: must be 1-63 of a-z 0-9 _ starting with a letter"


@pytest.mark.parametrize(
    "environ", [{"APP_DB_USER": "app"}, {"APP_DB_PASSWORD": PASSWORD}], ids=["user", "password"]
)
def test_an_app_role_without_its_password_or_the_reverse_is_refused(
    environ: dict[str, str],
) -> None:
    error = refusal(environ)
    assert str(error) == "APP_DB_PASSWORD: APP_DB_USER and APP_DB_PASSWORD go together"


AUTH_MESSAGE = (
    "API_KEYS: not set: add API_KEYS=<name>:write:<key> (make a key with `python -m service "
    "new-key`), or set AUTH_DISABLED=true to serve without authentication"
)


@pytest.mark.parametrize(
    ("environ", "refused"),
    [
        ({"DATABASE_URL": "postgresql://h/db"}, True),
        ({"PGHOST": "db.internal"}, True),
        ({"DATABASE_URL": "postgresql://h/db", "API_KEYS": f"ci:write:{KEY}"}, False),
        ({"DATABASE_URL": "postgresql://h/db", "AUTH_DISABLED": "true"}, False),
        ({}, False),  # the embedded development database
    ],
)
def test_a_real_database_is_served_only_with_keys_or_an_explicit_opt_out(
    environ: dict[str, str], refused: bool
) -> None:
    problem = Settings.from_env(environ).auth_problem()
    if refused:
        assert problem is not None
        assert (problem.variable, str(problem)) == ("API_KEYS", AUTH_MESSAGE)
    else:
        assert problem is None


def test_the_redacted_view_shows_every_setting_but_no_secret() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": f"postgresql://app:{PASSWORD}@db:5432/users",
            "API_KEYS": f"ci:read:{KEY},deploy:write:sha256:{'ab' * 32}",
            "APP_DB_USER": "app",
            "APP_DB_PASSWORD": PASSWORD,
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://otel:{PASSWORD}@collector:4318",
            "PORT": "9000",
        }
    )
    redacted = settings.redacted()
    assert PASSWORD not in repr(redacted) and KEY not in repr(redacted)
    assert "ab" * 32 not in repr(redacted)
    assert redacted["database_url"] == "postgresql://app:***@db:5432/users"
    assert redacted["api_keys"] == ["ci:read", "deploy:write"]
    assert (redacted["app_db_user"], redacted["app_db_password"]) == ("app", "***")
    assert redacted["tracing"]["endpoint"] == "https://otel:***@collector:4318/v1/traces"
    assert (redacted["port"], redacted["ssl_mode"]) == (9000, "prefer")
    # The settings themselves keep the real values.
    assert settings.app_db_password == PASSWORD


def test_the_redacted_view_of_unset_secrets_stays_unset() -> None:
    redacted = Settings.from_env({}).redacted()
    assert (redacted["database_url"], redacted["app_db_password"]) == (None, None)
    assert (redacted["api_keys"], redacted["tracing"]) == ([], None)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://app:{PASSWORD}@db:5432/users", "postgresql://app:***@db:5432/users"),
        (f"postgresql://:{PASSWORD}@db/users", "postgresql://:***@db/users"),
        (f"postgresql://app:{PASSWORD}@x@db/users", "postgresql://app:***@db/users"),
        ("postgresql://app@db/users", "postgresql://app@db/users"),
        ("postgresql://db/users?sslmode=require", "postgresql://db/users?sslmode=require"),
        (
            f"postgresql://db/users?user=app&password={PASSWORD}&options=",
            "postgresql://db/users?user=app&password=***&options=",
        ),
        (
            f"postgresql://db/users?sslpassword={PASSWORD}&sslmode=verify-full",
            "postgresql://db/users?sslpassword=***&sslmode=verify-full",
        ),
        (
            f"postgresql://app:{PASSWORD}@db/users?PASSWORD={PASSWORD}",
            "postgresql://app:***@db/users?PASSWORD=***",
        ),
        (f"https://otel:{PASSWORD}@collector:4318", "https://otel:***@collector:4318"),
    ],
)
def test_redact_url_masks_the_password_and_password_parameters(url: str, shown: str) -> None:
    assert redact_url(url) == shown


# Tracing (OpenTelemetry's variables, the subset we support).
BASE = "http://collector:4318"


def test_tracing_is_off_without_an_endpoint() -> None:
    assert Settings.from_env({"OTEL_SERVICE_NAME": "users"}).tracing is None


@pytest.mark.parametrize(
    ("environ", "endpoint"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE}, f"{BASE}/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"{BASE}/"}, f"{BASE}/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"{BASE}/otlp/"}, f"{BASE}/otlp/v1/traces"),
        # Only slashes are trimmed, whatever the path ends with.
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": f"{BASE}/X/"}, f"{BASE}/X/v1/traces"),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{BASE}/spans"}, f"{BASE}/spans"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://ignored:4318",
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{BASE}/spans",
            },
            f"{BASE}/spans",
        ),
    ],
)
def test_the_traces_url_is_the_base_url_plus_v1_traces_or_given_whole(
    environ: dict[str, str], endpoint: str
) -> None:
    assert Settings.from_env(environ).tracing == TracingSettings(
        endpoint=endpoint,
        service_name="user-service",
        sampler="parentbased_always_on",
        ratio=1.0,
        resource_attributes=(),
    )


@pytest.mark.parametrize("disabled", ["true", "1", "yes"])
def test_otel_sdk_disabled_turns_tracing_off_but_values_are_still_checked(disabled: str) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_SDK_DISABLED": disabled}
    assert Settings.from_env(environ).tracing is None
    assert refusal({**environ, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}).variable == (
        "OTEL_EXPORTER_OTLP_PROTOCOL"
    )
    assert Settings.from_env({**environ, "OTEL_SDK_DISABLED": "false"}).tracing is not None


@pytest.mark.parametrize(
    ("environ", "name"),
    [
        ({}, "user-service"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "team=users"}, "user-service"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes"}, "from-attributes"),
        (
            {"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes", "OTEL_SERVICE_NAME": "n"},
            "n",
        ),
    ],
)
def test_the_service_name_comes_from_otel_service_name_then_the_attributes(
    environ: dict[str, str], name: str
) -> None:
    tracing = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, **environ}).tracing
    assert tracing is not None
    assert tracing.service_name == name


@pytest.mark.parametrize(
    ("raw", "attributes"),
    [
        ("a=1", (("a", "1"),)),
        (" a = 1 , b=x%20y%2Cz ,, ", (("a", "1"), ("b", "x y,z"))),
        ("a=1,,b=2", (("a", "1"), ("b", "2"))),
        ("k=", (("k", ""),)),
        ("k=a=b", (("k", "a=b"),)),
    ],
)
def test_resource_attributes_are_key_value_pairs_with_percent_encoded_values(
    raw: str, attributes: tuple[tuple[str, str], ...]
) -> None:
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_RESOURCE_ATTRIBUTES": raw}
    tracing = Settings.from_env(environ).tracing
    assert tracing is not None
    assert tracing.resource_attributes == attributes


@pytest.mark.parametrize("raw", ["novalue", "=v", "a=1, =v", "a=1,b"])
def test_resource_attributes_that_are_not_pairs_are_refused(raw: str) -> None:
    assert str(refusal({"OTEL_RESOURCE_ATTRIBUTES": raw})) == (
        f"OTEL_RESOURCE_ATTRIBUTES: {raw!r} is not comma-separated key=value pairs"
    )


@pytest.mark.parametrize("sampler", TRACES_SAMPLERS)
def test_every_supported_sampler_is_accepted(sampler: str) -> None:
    tracing = Settings.from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": BASE, "OTEL_TRACES_SAMPLER": sampler}
    ).tracing
    assert tracing is not None
    assert (tracing.sampler, tracing.ratio) == (sampler, 1.0)


def test_an_unknown_sampler_is_refused_listing_the_samplers() -> None:
    assert str(refusal({"OTEL_TRACES_SAMPLER": "sometimes"})) == (
        f"OTEL_TRACES_SAMPLER: 'sometimes' is not one of {', '.join(TRACES_SAMPLERS)}"
    )


@pytest.mark.parametrize("sampler", ["traceidratio", "parentbased_traceidratio"])
@pytest.mark.parametrize(("raw", "ratio"), [("0", 0.0), ("0.25", 0.25), ("1", 1.0)])
def test_ratio_samplers_take_a_ratio_from_0_to_1(sampler: str, raw: str, ratio: float) -> None:
    environ = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": BASE,
        "OTEL_TRACES_SAMPLER": sampler,
        "OTEL_TRACES_SAMPLER_ARG": raw,
    }
    tracing = Settings.from_env(environ).tracing
    assert tracing is not None
    assert tracing.ratio == ratio


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("1.001", "is not between 0 and 1"),
        ("-0.001", "is not between 0 and 1"),
        ("nan", "is not between 0 and 1"),
        ("half", "is not a number"),
    ],
)
def test_a_ratio_outside_0_to_1_is_refused(raw: str, problem: str) -> None:
    environ = {"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": raw}
    assert str(refusal(environ)) == f"OTEL_TRACES_SAMPLER_ARG: {raw!r} {problem}"


@pytest.mark.parametrize("sampler", ["always_on", "parentbased_always_off"])
def test_other_samplers_take_no_argument(sampler: str) -> None:
    environ = {"OTEL_TRACES_SAMPLER": sampler, "OTEL_TRACES_SAMPLER_ARG": "0.5"}
    assert str(refusal(environ)) == (
        f"OTEL_TRACES_SAMPLER_ARG: the {sampler} sampler takes no argument"
    )


def test_only_otlp_over_http_is_supported() -> None:
    assert str(refusal({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})) == (
        "OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' is not supported: only http/protobuf "
        "(OTLP over HTTP, port 4318)"
    )


@pytest.mark.parametrize(
    "variable", ["OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]
)
@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("collector:4318", "is not an http:// or https:// URL with a host"),
        ("grpc://collector:4317", "is not an http:// or https:// URL with a host"),
        ("http://", "is not an http:// or https:// URL with a host"),
        ("http:///v1/traces", "is not an http:// or https:// URL with a host"),
        ("http://collector:port", "is not a URL"),
        ("http://[collector", "is not a URL"),
    ],
)
def test_an_endpoint_must_be_an_http_url_with_a_host(variable: str, raw: str, problem: str) -> None:
    assert str(refusal({variable: raw})) == f"{variable}: {raw!r} {problem}"


@pytest.mark.parametrize("raw", ["http://collector:4318", "https://collector"])
def test_http_and_https_endpoints_are_accepted(raw: str) -> None:
    tracing = Settings.from_env({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": raw}).tracing
    assert tracing is not None
    assert tracing.endpoint == raw
