"""Settings, read once from the environment (factor 3) and validated before anything starts."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from service.api_keys import ApiKey, parse_api_keys

T = TypeVar("T")

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# libpq's sslmode values, weakest first.
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# The modes that may check the server's certificate against PGSSLROOTCERT.
CHECKING_SSL_MODES = ("require", "verify-ca", "verify-full")


class ConfigError(Exception):
    """An environment variable is missing or invalid; the process must not start."""

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable


@dataclass(frozen=True, slots=True)
class Variable:
    """One documented environment variable: the single source for parsing, defaults and docs."""

    name: str
    default: str | None
    help: str
    secret: bool = False


# Every variable the service reads. `.env.example`, the README table and the chart's tests are
# checked against this list, so it is the one place to add a setting.
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "DATABASE_URL",
        None,
        "postgresql://user:password@host:5432/db. Unset, with no "
        "PGHOST either: `serve` starts an embedded throwaway PostgreSQL (development only).",
        secret=True,
    ),
    Variable(
        "PGHOST", None, "libpq-style alternative to DATABASE_URL (the Helm chart uses these)."
    ),
    Variable("PGPORT", None, "libpq port (default 5432)."),
    Variable("PGUSER", None, "libpq user."),
    Variable("PGPASSWORD", None, "libpq password.", secret=True),
    Variable("PGDATABASE", None, "libpq database name."),
    Variable(
        "PGSSLMODE",
        "prefer",
        "TLS to PostgreSQL, as in libpq: disable, allow, prefer (TLS when the server offers it, "
        "nothing checked), require (TLS; the CA is checked only if PGSSLROOTCERT is set), "
        "verify-ca (the certificate must be signed by a CA in PGSSLROOTCERT) or verify-full "
        "(and must name the host connected to: use it for managed databases). An sslmode in "
        "DATABASE_URL wins.",
    ),
    Variable(
        "PGSSLROOTCERT",
        None,
        "PEM file of the CA certificates that signed the database's certificate (RDS: "
        "global-bundle.pem), read at start. Required by verify-ca and verify-full, which never "
        "fall back to the system's CAs (for those, give /etc/ssl/certs/ca-certificates.crt). "
        "An sslrootcert in DATABASE_URL wins.",
    ),
    # A container must listen on all interfaces to be reachable through its Service.
    Variable(
        "API_KEYS",
        None,
        "Comma-separated name:scope:key entries (scope read or write; key from `python -m "
        "service new-key`, or sha256:<hex digest of the key>). Required when a database is "
        "configured, unless AUTH_DISABLED=true.",
        secret=True,
    ),
    Variable(
        "AUTH_DISABLED",
        "false",
        "true serves /users without API keys. Never in production: anyone who reaches the port "
        "can read and delete every user.",
    ),
    Variable(
        "METRICS_PORT",
        None,
        "Serve /metrics on this port instead of PORT, so a NetworkPolicy can open it to "
        "monitoring only.",
    ),
    Variable(
        "DOCS_ENABLED",
        "true",
        "Serve interactive API documentation (Swagger UI, from the image itself) at /docs; "
        "false answers 404 there. /openapi.json is served either way.",
    ),
    Variable(
        "APP_DB_USER",
        None,
        "migrate only: create or update this least-privileged login role (read and write the "
        "tables, no DDL) for the web process.",
    ),
    Variable("APP_DB_PASSWORD", None, "migrate only: the password of APP_DB_USER.", secret=True),
    Variable("HOST", "0.0.0.0", "Address to bind."),  # noqa: S104
    Variable("PORT", "8080", "TCP port for the API, probes and metrics."),
    Variable("LOG_LEVEL", "INFO", "DEBUG, INFO, WARNING, ERROR or CRITICAL."),
    Variable("DB_POOL_MIN_SIZE", "2", "Connections the pool keeps open."),
    Variable(
        "DB_POOL_MAX_SIZE",
        "10",
        "Most connections per process (the chart budgets "
        "maxReplicas x this against max_connections).",
    ),
    Variable("DB_CONNECT_TIMEOUT_SECONDS", "5", "Timeout to open one database connection."),
    Variable(
        "DB_REQUEST_TIMEOUT_SECONDS",
        "5",
        "The most time one request spends on the database in all, waiting for a connection "
        "included; then 503 with Retry-After. The longest a caller waits on a slow database.",
    ),
    Variable(
        "DB_ACQUIRE_TIMEOUT_SECONDS",
        "2",
        "Longest wait for a pooled connection (within DB_REQUEST_TIMEOUT_SECONDS); then 503.",
    ),
    Variable(
        "DB_STATEMENT_TIMEOUT_SECONDS",
        "5",
        "Server-side statement_timeout: a backstop for a query whose request already gave up.",
    ),
    Variable(
        "DB_TRANSACTION_POOLING",
        "false",
        "true when the database address is a transaction-mode pooler (PgBouncer with "
        "pool_mode=transaction, CloudNativePG's Pooler): no prepared statement is kept on a "
        "server connection, and DB_STATEMENT_TIMEOUT_SECONDS is enforced by cancelling the "
        "query from the client instead of as a session setting. migrate refuses it: migrations "
        "need a direct connection.",
    ),
    Variable("MAX_BODY_BYTES", "65536", "Largest accepted request body; larger gets 413."),
    Variable("READINESS_TIMEOUT_SECONDS", "1", "Database ping timeout for /readyz."),
    Variable(
        "READINESS_CACHE_SECONDS",
        "1",
        "How long a readiness result is reused (probe storms cost one query per this interval).",
    ),
    Variable(
        "KEEPALIVE_TIMEOUT_SECONDS",
        "75",
        "Idle keep-alive connections, and requests whose headers never finish, are closed "
        "after this. Keep it above the idle timeout of proxies in front (ingress-nginx: 60 s).",
    ),
    Variable(
        "DRAIN_DELAY_SECONDS",
        "5",
        "After SIGTERM: seconds of serving with /readyz at 503, "
        "so load balancers stop routing here before the listener closes.",
    ),
    Variable(
        "SHUTDOWN_TIMEOUT_SECONDS",
        "20",
        "After the drain delay: the most time in-flight requests get before the process exits.",
    ),
    # OpenTelemetry's own variables and meanings (service/tracing.py), the subset we support.
    Variable(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        None,
        "Turns tracing on: base URL of an OTLP/HTTP collector (http://collector:4318); spans go "
        "to its /v1/traces. Unset, with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT unset too: no "
        "tracing, and OpenTelemetry is not even imported.",
    ),
    Variable(
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        None,
        "Turns tracing on too: the full URL spans are sent to, path included. Wins over "
        "OTEL_EXPORTER_OTLP_ENDPOINT.",
    ),
    Variable(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "http/protobuf",
        "Only http/protobuf (OTLP over HTTP, port 4318) is supported: grpc is refused at start.",
    ),
    Variable("OTEL_SDK_DISABLED", "false", "true turns tracing off whatever the endpoint."),
    Variable(
        "OTEL_SERVICE_NAME",
        None,
        "service.name of the spans (else the one in OTEL_RESOURCE_ATTRIBUTES, else user-service).",
    ),
    Variable(
        "OTEL_RESOURCE_ATTRIBUTES",
        None,
        "More attributes of every span's resource: key=value pairs, comma-separated, values "
        "percent-encoded (deployment.environment.name=prod,k8s.namespace.name=users).",
    ),
    Variable(
        "OTEL_TRACES_SAMPLER",
        "parentbased_always_on",
        "always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or "
        "parentbased_traceidratio. The parentbased ones follow the sampled flag of the "
        "caller's traceparent and decide alone only for requests that have none.",
    ),
    Variable(
        "OTEL_TRACES_SAMPLER_ARG",
        None,
        "The traceidratio samplers' share of traces kept, 0 to 1 (default 1); other samplers "
        "take no argument.",
    ),
)
VARIABLE_NAMES = frozenset(v.name for v in VARIABLES)
_DEFAULTS = {v.name: v.default for v in VARIABLES}
_SECRETS = frozenset(v.name for v in VARIABLES if v.secret)


# OTEL_TRACES_SAMPLER values (OpenTelemetry's names); those ending in traceidratio take a ratio.
TRACES_SAMPLERS = (
    "always_on",
    "always_off",
    "traceidratio",
    "parentbased_always_on",
    "parentbased_always_off",
    "parentbased_traceidratio",
)
OTLP_PROTOCOL = "http/protobuf"


@dataclass(frozen=True, slots=True)
class TracingSettings:
    """OpenTelemetry tracing, on when an OTLP endpoint is set and OTEL_SDK_DISABLED is not true."""

    endpoint: str  # the full URL spans are POSTed to
    service_name: str
    sampler: str
    ratio: float  # of the traceidratio samplers
    resource_attributes: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None
    # True when connection parameters come from PG* variables (asyncpg reads them itself).
    use_libpq_env: bool
    # TLS to the database, from the URL's sslmode/sslrootcert or else PGSSLMODE/PGSSLROOTCERT:
    # resolved here and passed to asyncpg explicitly, so the two paths can't disagree.
    ssl_mode: str
    ssl_root_cert: str | None
    host: str
    host_set: bool  # HOST was given; else host is its default (the embedded run picks its own)
    port: int
    log_level: str
    pool_min_size: int
    pool_max_size: int
    connect_timeout: float
    request_timeout: float
    acquire_timeout: float
    statement_timeout: float
    transaction_pooling: bool
    max_body_bytes: int
    readiness_timeout: float
    readiness_cache_seconds: float
    keepalive_timeout: float
    drain_delay: float
    shutdown_timeout: float
    api_keys: tuple[ApiKey, ...]
    auth_disabled: bool
    metrics_port: int | None
    docs_enabled: bool
    app_db_user: str | None
    app_db_password: str | None
    tracing: TracingSettings | None

    @property
    def database_configured(self) -> bool:
        return self.database_url is not None or self.use_libpq_env

    @property
    def ssl_root_cert_variable(self) -> str:
        """The variable ssl_root_cert came from, for error messages."""
        return "DATABASE_URL" if "sslrootcert" in _query(self.database_url) else "PGSSLROOTCERT"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        def get(name: str) -> str:
            value = environ.get(name, "").strip()
            default = _DEFAULTS[name]
            return value if value else (default or "")

        database_url = get("DATABASE_URL") or None
        if database_url is not None:
            _check_database_url(database_url)
        ssl_mode, ssl_root_cert = _database_tls(get, database_url)
        pool_min = _parse(get, "DB_POOL_MIN_SIZE", _integer(0, 1000))
        pool_max = _parse(get, "DB_POOL_MAX_SIZE", _integer(1, 1000))
        if pool_min > pool_max:
            raise ConfigError(
                "DB_POOL_MIN_SIZE", f"{pool_min} is more than DB_POOL_MAX_SIZE ({pool_max})"
            )
        auth_disabled = _parse(get, "AUTH_DISABLED", _boolean)
        api_keys = _parse(get, "API_KEYS", parse_api_keys)
        app_db_user = get("APP_DB_USER") or None
        if app_db_user is not None and not _ROLE.fullmatch(app_db_user):
            raise ConfigError("APP_DB_USER", "must be 1-63 of a-z 0-9 _ starting with a letter")
        app_db_password = get("APP_DB_PASSWORD") or None
        if (app_db_user is None) != (app_db_password is None):
            raise ConfigError("APP_DB_PASSWORD", "APP_DB_USER and APP_DB_PASSWORD go together")
        metrics_port = _parse(get, "METRICS_PORT", _optional(_integer(1, 65535)))
        port = _parse(get, "PORT", _integer(1, 65535))
        if metrics_port == port:
            raise ConfigError("METRICS_PORT", f"{metrics_port} is PORT too; unset it to share")
        request_timeout = _parse(get, "DB_REQUEST_TIMEOUT_SECONDS", _seconds(0.01, 3600))
        acquire_timeout = _parse(get, "DB_ACQUIRE_TIMEOUT_SECONDS", _seconds(0.01, 300))
        if acquire_timeout > request_timeout:
            raise ConfigError(
                "DB_ACQUIRE_TIMEOUT_SECONDS",
                f"{acquire_timeout:g} is more than DB_REQUEST_TIMEOUT_SECONDS "
                f"({request_timeout:g}), the deadline of a request's whole database work",
            )
        level = get("LOG_LEVEL").upper()
        if level not in LOG_LEVELS:
            raise ConfigError("LOG_LEVEL", f"{level!r} is not one of {', '.join(LOG_LEVELS)}")
        return cls(
            database_url=database_url,
            use_libpq_env=database_url is None and bool(get("PGHOST")),
            ssl_mode=ssl_mode,
            ssl_root_cert=ssl_root_cert,
            host=get("HOST"),
            host_set=bool(environ.get("HOST", "").strip()),
            port=port,
            log_level=level,
            pool_min_size=pool_min,
            pool_max_size=pool_max,
            connect_timeout=_parse(get, "DB_CONNECT_TIMEOUT_SECONDS", _seconds(0.1, 300)),
            request_timeout=request_timeout,
            acquire_timeout=acquire_timeout,
            statement_timeout=_parse(get, "DB_STATEMENT_TIMEOUT_SECONDS", _seconds(0.001, 3600)),
            transaction_pooling=_parse(get, "DB_TRANSACTION_POOLING", _boolean),
            max_body_bytes=_parse(get, "MAX_BODY_BYTES", _integer(256, 64 * 1024 * 1024)),
            readiness_timeout=_parse(get, "READINESS_TIMEOUT_SECONDS", _seconds(0.01, 60)),
            readiness_cache_seconds=_parse(get, "READINESS_CACHE_SECONDS", _seconds(0, 60)),
            keepalive_timeout=_parse(get, "KEEPALIVE_TIMEOUT_SECONDS", _seconds(1, 3600)),
            drain_delay=_parse(get, "DRAIN_DELAY_SECONDS", _seconds(0, 300)),
            shutdown_timeout=_parse(get, "SHUTDOWN_TIMEOUT_SECONDS", _seconds(0, 3600)),
            api_keys=api_keys,
            auth_disabled=auth_disabled,
            metrics_port=metrics_port,
            docs_enabled=_parse(get, "DOCS_ENABLED", _boolean),
            app_db_user=app_db_user,
            app_db_password=app_db_password,
            tracing=_tracing(get),
        )

    def auth_problem(self) -> ConfigError | None:
        """Secure by default: serving a real database with no keys needs an explicit opt-out."""
        if self.database_configured and not self.api_keys and not self.auth_disabled:
            return ConfigError(
                "API_KEYS",
                "not set: add API_KEYS=<name>:write:<key> (make a key with `python -m service "
                "new-key`), or set AUTH_DISABLED=true to serve without authentication",
            )
        return None

    def redacted(self) -> dict[str, Any]:
        """The effective settings, safe to log: passwords never leave the process."""
        values = asdict(self)
        if self.database_url is not None:
            values["database_url"] = redact_url(self.database_url)
        values["api_keys"] = [f"{k.name}:{k.scope.value}" for k in self.api_keys]
        if self.app_db_password is not None:
            values["app_db_password"] = "***"  # noqa: S105 - the mask, not a password
        if self.tracing is not None:
            values["tracing"]["endpoint"] = redact_url(self.tracing.endpoint)
        return values


def redact_url(url: str) -> str:
    """The URL with its secrets as ***: the password in the userinfo, and any `password` or
    `sslpassword` query parameter (asyncpg and libpq accept both forms)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        netloc = f"{parts.username or ''}:***@{netloc.rsplit('@', 1)[1]}"
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name.lower().endswith("password") for name, _ in query):
        safe = [(n, "***" if n.lower().endswith("password") else v) for n, v in query]
        return urlunsplit(parts._replace(netloc=netloc, query=urlencode(safe, safe="*")))
    return urlunsplit(parts._replace(netloc=netloc))


def _check_database_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a non-numeric port
    except ValueError as exc:
        raise ConfigError("DATABASE_URL", f"not a valid URL ({exc})") from None
    if parts.scheme not in ("postgres", "postgresql"):
        # Never echo the URL: it may hold a password.
        raise ConfigError("DATABASE_URL", "must start with postgresql:// or postgres://")


def _query(url: str | None) -> dict[str, str]:
    """The URL's non-empty query parameters (libpq's connection parameters, like sslmode)."""
    if url is None:
        return {}
    return {name: value for name, value in parse_qsl(urlsplit(url).query) if value}


def _database_tls(get: Callable[[str], str], database_url: str | None) -> tuple[str, str | None]:
    """sslmode and sslrootcert, from DATABASE_URL's query or else PGSSLMODE and PGSSLROOTCERT
    (libpq's precedence: the connection string wins over the environment)."""
    query = _query(database_url)
    mode_variable = "DATABASE_URL" if "sslmode" in query else "PGSSLMODE"
    mode = query.get("sslmode") or get("PGSSLMODE")
    if mode not in SSL_MODES:
        raise ConfigError(mode_variable, f"sslmode {mode!r} is not one of {', '.join(SSL_MODES)}")
    root_cert = query.get("sslrootcert") or get("PGSSLROOTCERT") or None
    if root_cert is None and mode in ("verify-ca", "verify-full"):
        # Unlike libpq and asyncpg, no silent fallback to ~/.postgresql/root.crt.
        raise ConfigError(
            "PGSSLROOTCERT",
            f"not set: sslmode {mode} checks the database's certificate against the CA "
            "certificates in this file (for managed databases, their CA bundle)",
        )
    if root_cert is not None and mode not in CHECKING_SSL_MODES:
        # libpq ignores it: a CA that is given but never checked is a false sense of security.
        raise ConfigError(
            mode_variable,
            f"sslmode {mode} never checks the database's certificate, yet a CA file is given: "
            "use verify-full (or verify-ca), or give no CA file",
        )
    return mode, root_cert


def _tracing(get: Callable[[str], str]) -> TracingSettings | None:
    """Tracing is on iff an OTLP endpoint is set and OTEL_SDK_DISABLED is not true. Every OTEL_*
    value is checked even when it is off, so a mistake shows before someone turns it on."""
    disabled = _parse(get, "OTEL_SDK_DISABLED", _boolean)
    protocol = get("OTEL_EXPORTER_OTLP_PROTOCOL")
    if protocol != OTLP_PROTOCOL:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_PROTOCOL",
            f"{protocol!r} is not supported: only {OTLP_PROTOCOL} (OTLP over HTTP, port 4318)",
        )
    sampler = get("OTEL_TRACES_SAMPLER")
    if sampler not in TRACES_SAMPLERS:
        raise ConfigError(
            "OTEL_TRACES_SAMPLER", f"{sampler!r} is not one of {', '.join(TRACES_SAMPLERS)}"
        )
    ratio = _parse(get, "OTEL_TRACES_SAMPLER_ARG", _optional(_ratio))
    if ratio is not None and not sampler.endswith("traceidratio"):
        raise ConfigError("OTEL_TRACES_SAMPLER_ARG", f"the {sampler} sampler takes no argument")
    attributes = _parse(get, "OTEL_RESOURCE_ATTRIBUTES", _resource_attributes)
    base = _parse(get, "OTEL_EXPORTER_OTLP_ENDPOINT", _optional(_http_url))
    traces = _parse(get, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", _optional(_http_url))
    # As the OTLP specification has it: the base URL gets the signal's path, the traces URL not.
    endpoint = traces or (f"{base.rstrip('/')}/v1/traces" if base else None)
    if disabled or endpoint is None:
        return None
    named = get("OTEL_SERVICE_NAME") or dict(attributes).get("service.name", "user-service")
    return TracingSettings(
        endpoint=endpoint,
        service_name=named,
        sampler=sampler,
        ratio=1.0 if ratio is None else ratio,
        resource_attributes=attributes,
    )


def _http_url(raw: str) -> str:
    try:
        parts = urlsplit(raw)
        _ = parts.port  # raises on a non-numeric port
    except ValueError:
        raise ValueError("is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("is not an http:// or https:// URL with a host")
    return raw


def _ratio(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if not 0 <= value <= 1:  # NaN fails this too
        raise ValueError("is not between 0 and 1")
    return value


def _resource_attributes(raw: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for entry in raw.split(","):
        if not entry.strip():
            continue
        key, equals, value = entry.partition("=")
        if not equals or not key.strip():
            raise ValueError("is not comma-separated key=value pairs")
        pairs.append((key.strip(), unquote(value.strip())))
    return tuple(pairs)


def _parse(get: Callable[[str], str], name: str, convert: Callable[[str], T]) -> T:
    raw = get(name)
    try:
        return convert(raw)
    except ValueError as exc:
        # A secret's value is never echoed, not even a malformed one.
        shown = "" if name in _SECRETS else f"{raw!r} "
        raise ConfigError(name, f"{shown}{exc}") from None


_ROLE = re.compile(r"[a-z][a-z0-9_]{0,62}")


def _boolean(raw: str) -> bool:
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValueError("is not true or false")


def _optional(convert: Callable[[str], T]) -> Callable[[str], T | None]:
    def optional(raw: str) -> T | None:
        return convert(raw) if raw else None

    return optional


def _integer(low: int, high: int) -> Callable[[str], int]:
    def convert(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError("is not a whole number") from None
        if not low <= value <= high:
            raise ValueError(f"is not between {low} and {high}")
        return value

    return convert


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def convert(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("is not a number of seconds") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"is not between {low} and {high} seconds")
        return value

    return convert
