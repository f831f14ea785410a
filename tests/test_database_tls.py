"""TLS to an external PostgreSQL: PGSSLMODE and PGSSLROOTCERT (or sslmode and sslrootcert in
DATABASE_URL), checked at start, then honoured by `serve` and `migrate` against a real server.

The server is this module's own, started with ssl=on and certificates made here with the openssl
command: a CA, a server certificate it signs for localhost and 127.0.0.1, and an unrelated CA.
It listens on 127.0.0.1 and 127.0.0.2, and its pg_hba.conf accepts TLS connections only, so a
case that works was encrypted; 127.0.0.2, which the certificate does not name, is the host name
mismatch. The embedded wheel's PostgreSQL is built without OpenSSL: the server is Debian's
(apt-get install postgresql-15), run through EmbeddedPostgres.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import shutil
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import pytest

from service.config import ConfigError, Settings
from service.db import connect_kwargs
from service.devdb import EmbeddedPostgres
from service.migrations import load_migrations
from tests.conftest import FAST_SETTINGS, migrate
from tests.helpers import skip_or_fail
from tests.procs import ServiceGroup, clean_environ, http_get, parse_log, run_cli

# Distinctive, in every case's DATABASE_URL or PGPASSWORD: no output may ever contain it.
PASSWORD = "Tls-Pa55word-7c41e9d2"
ROLE, DATABASE = "tls_owner", "tls_users"
NAMED_HOST = "127.0.0.1"  # in the server certificate's subjectAltName
UNNAMED_HOST = "127.0.0.2"  # reaches the same server, but the certificate does not name it

_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
_SERVER_EXTENSIONS = """\
subjectAltName = DNS:localhost, IP:127.0.0.1
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""
# TLS only: a plain-text connection is refused ("no encryption").
_HBA = "hostssl all all 127.0.0.1/32 scram-sha-256\nhostssl all all 127.0.0.2/32 scram-sha-256\n"


# --- certificates and the server ------------------------------------------------------------


def openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_ca(directory: Path, name: str) -> Path:
    openssl(
        directory,
        *("req", "-x509", *_EC_KEY, "-days", "2", "-subj", f"/CN={name}"),
        *("-keyout", f"{name}.key", "-out", f"{name}.crt"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign,cRLSign"),
    )
    return directory / f"{name}.crt"


def make_server_certificate(directory: Path, ca: str) -> tuple[Path, Path]:
    """(certificate, key) for localhost and 127.0.0.1, signed by the CA named `ca`."""
    (directory / "server.ext").write_text(_SERVER_EXTENSIONS)
    openssl(
        directory,
        *("req", *_EC_KEY, "-subj", "/CN=localhost", "-keyout", "server.key"),
        *("-out", "server.csr"),
    )
    openssl(
        directory,
        *("x509", "-req", "-in", "server.csr", "-days", "2", "-extfile", "server.ext"),
        *("-CA", f"{ca}.crt", "-CAkey", f"{ca}.key", "-CAcreateserial", "-out", "server.crt"),
    )
    return directory / "server.crt", directory / "server.key"


def postgres_with_openssl() -> Path | None:
    """The bin directory of a system PostgreSQL: Debian's (built with OpenSSL), or the one on
    PATH. The embedded wheel's would refuse ssl=on ("SSL is not supported by this build")."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda bin_dir: int(bin_dir.parent.name) if bin_dir.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("postgres")
    if on_path is not None:
        candidates.append(Path(on_path).resolve().parent)
    for bin_dir in candidates:
        if all((bin_dir / name).exists() for name in ("postgres", "initdb", "pg_isready")):
            return bin_dir
    return None


@dataclass(frozen=True)
class Certificates:
    ca: Path  # signed the server's certificate
    other_ca: Path  # unrelated: the wrong CA
    server_certificate: Path
    server_key: Path


@pytest.fixture(scope="module")
def certificates() -> Iterator[Certificates]:
    if shutil.which("openssl") is None:
        skip_or_fail("the openssl command is missing (apt-get install openssl)")
    # Not under pytest's tmp_path: the server may run as another user, who must read its
    # certificate and pg_hba.conf here.
    directory = Path(tempfile.mkdtemp(prefix="user-service-tls-"))
    directory.chmod(0o755)
    try:
        ca = make_ca(directory, "test-ca")
        other_ca = make_ca(directory, "other-ca")
        yield Certificates(ca, other_ca, *make_server_certificate(directory, "test-ca"))
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True)
class TlsServer:
    server: EmbeddedPostgres
    ca: Path
    other_ca: Path

    @property
    def admin_url(self) -> str:
        return f"{self.server.dsn()}?sslmode=require"

    def url(self, host: str = NAMED_HOST, database: str = DATABASE, **query: str) -> str:
        """The test role's URL, password included; libpq parameters go in the query."""
        url = f"postgresql://{ROLE}:{PASSWORD}@{host}:{self.server.port}/{database}"
        return f"{url}?{urlencode(query)}" if query else url

    def libpq_env(self, host: str = NAMED_HOST, database: str = DATABASE) -> dict[str, str]:
        """The same as PG* variables, as the Helm chart sets them."""
        return {
            "PGHOST": host,
            "PGPORT": str(self.server.port),
            "PGUSER": ROLE,
            "PGPASSWORD": PASSWORD,
            "PGDATABASE": database,
        }


async def admin_execute(tls: TlsServer, *statements: str) -> None:
    conn = await asyncpg.connect(tls.admin_url)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def tls_server(certificates: Certificates) -> Iterator[TlsServer]:
    bin_dir = postgres_with_openssl()
    if bin_dir is None:
        skip_or_fail("no system PostgreSQL built with OpenSSL (apt-get install postgresql-15)")
    hba = certificates.ca.parent / "pg_hba.conf"
    hba.write_text(_HBA)
    settings = {
        **FAST_SETTINGS,
        "listen_addresses": f"{NAMED_HOST},{UNNAMED_HOST}",
        "ssl": "on",
        "ssl_cert_file": str(certificates.server_certificate),
        "ssl_key_file": str(certificates.server_key),
        "hba_file": str(hba),
    }
    server = EmbeddedPostgres(settings=settings, binaries=bin_dir)
    try:
        server.make_private_to_server(certificates.server_key)
        server.start()
        tls = TlsServer(server, certificates.ca, certificates.other_ca)
        asyncio.run(
            admin_execute(
                tls,
                f"CREATE ROLE {ROLE} LOGIN PASSWORD '{PASSWORD}'",
                f"CREATE DATABASE {DATABASE} OWNER {ROLE}",
            )
        )
        asyncio.run(migrate(tls.url(sslmode="require")))
        yield tls
    finally:
        server.cleanup()


@pytest.fixture
def fresh_database(tls_server: TlsServer) -> Iterator[str]:
    """An empty database of the test role's, for a migration to apply everything to."""
    name = f"tls_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin_execute(tls_server, f"CREATE DATABASE {name} OWNER {ROLE}"))
    yield name
    asyncio.run(admin_execute(tls_server, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- the cases ------------------------------------------------------------------------------

Setup = Callable[[TlsServer, str], dict[str, str]]  # (server, database) -> environment

WORKING: dict[str, Setup] = {
    # The chart's way: PG* variables only.
    "verify-full, PG* variables": lambda tls, db: {
        **tls.libpq_env(database=db),
        "PGSSLMODE": "verify-full",
        "PGSSLROOTCERT": str(tls.ca),
    },
    # The URL's parameters win over PGSSLMODE (disable would be refused: the server wants TLS).
    "verify-full, in DATABASE_URL": lambda tls, db: {
        "DATABASE_URL": tls.url(database=db, sslmode="verify-full", sslrootcert=str(tls.ca)),
        "PGSSLMODE": "disable",
    },
    "verify-ca, a host the certificate does not name": lambda tls, db: {
        "DATABASE_URL": tls.url(UNNAMED_HOST, database=db),
        "PGSSLMODE": "verify-ca",
        "PGSSLROOTCERT": str(tls.ca),
    },
    "require, no CA": lambda tls, db: {
        "DATABASE_URL": tls.url(UNNAMED_HOST, database=db),
        "PGSSLMODE": "require",
    },
}

WRONG_CA = "TLS certificate refused (unable to get local issuer certificate): "
HOST_MISMATCH = (
    f"TLS certificate refused (IP address mismatch, certificate is not valid for "
    f"'{UNNAMED_HOST}'): connect by a host name the certificate lists"
)
# (environment, what the one line or log entry must say)
REFUSED: dict[str, tuple[Setup, str]] = {
    "wrong CA": (
        lambda tls, db: {
            "DATABASE_URL": tls.url(database=db),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(tls.other_ca),
        },
        WRONG_CA + "the database's certificate is not signed by a CA in PGSSLROOTCERT (or ",
    ),
    # The URL's CA wins over PGSSLROOTCERT's (the right one).
    "wrong CA in DATABASE_URL": (
        lambda tls, db: {
            "DATABASE_URL": tls.url(
                database=db, sslmode="verify-ca", sslrootcert=str(tls.other_ca)
            ),
            "PGSSLROOTCERT": str(tls.ca),
        },
        WRONG_CA,
    ),
    "host name mismatch": (
        lambda tls, db: {
            "DATABASE_URL": tls.url(UNNAMED_HOST, database=db),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(tls.ca),
        },
        HOST_MISMATCH,
    ),
    "host name mismatch, PG* variables": (
        lambda tls, db: {
            **tls.libpq_env(UNNAMED_HOST, database=db),
            "PGSSLMODE": "verify-full",
            "PGSSLROOTCERT": str(tls.ca),
        },
        HOST_MISMATCH,
    ),
}


def assert_no_secret_or_traceback(output: str) -> None:
    assert PASSWORD not in output
    assert "Traceback" not in output


def request_json(port: int, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        payload = None if body is None else json.dumps(body)
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.mark.slow
@pytest.mark.parametrize("case", WORKING)
def test_migrate_connects_over_tls(tls_server: TlsServer, fresh_database: str, case: str) -> None:
    result = run_cli(["migrate"], clean_environ(**WORKING[case](tls_server, fresh_database)))
    assert (result.returncode, result.stderr) == (0, ""), result.stdout + result.stderr
    [done] = [x for x in parse_log(result.stdout) if x["message"] == "migrations up to date"]
    assert done["applied"] == len(load_migrations())
    assert_no_secret_or_traceback(result.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("case", WORKING)
def test_serve_connects_over_tls(tls_server: TlsServer, services: ServiceGroup, case: str) -> None:
    service = services.start(clean_environ(**WORKING[case](tls_server, DATABASE)))
    service.wait_ready()
    name = f"tls_{uuid.uuid4().hex[:8]}"
    status, user = request_json(
        service.port, "POST", "/users", {"username": name, "email": f"{name}@x.org"}
    )
    assert status == 201, user
    assert request_json(service.port, "GET", f"/users/{user['id']}") == (200, user)
    assert service.stderr() == ""
    assert_no_secret_or_traceback(service.output())


@pytest.mark.slow
@pytest.mark.parametrize("case", REFUSED)
def test_migrate_refuses_the_certificate_at_once_in_one_line(
    tls_server: TlsServer, case: str
) -> None:
    setup, says = REFUSED[case]
    started = time.monotonic()
    result = run_cli(
        ["migrate", "--wait-timeout", "30"], clean_environ(**setup(tls_server, DATABASE))
    )
    # Not an outage: no retrying for the 30 s of --wait-timeout.
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"user-service: cannot connect to the database: {says}"), line
    assert_no_secret_or_traceback(result.stdout + result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize("case", REFUSED)
def test_serve_refused_by_the_certificate_stays_up_unready_and_says_why(
    tls_server: TlsServer, services: ServiceGroup, case: str
) -> None:
    setup, says = REFUSED[case]
    service = services.start(clean_environ(**setup(tls_server, DATABASE)))
    warning = service.wait_for_log(
        lambda line: line.get("message") == "database not reachable, retrying", timeout=10
    )
    assert warning["level"] == "WARNING"
    assert warning["error"].startswith(says), warning
    status, _, body = http_get(service.port, "/readyz")
    assert status == 503
    assert json.loads(body)["checks"]["database"].startswith(says)
    assert service.process.poll() is None, "a certificate problem must not crash-loop the pod"
    assert service.stderr() == ""
    assert_no_secret_or_traceback(service.output())


# --- settings, checked at start (no server needed) --------------------------------------------


@pytest.mark.parametrize("command", ["serve", "migrate"])
@pytest.mark.parametrize(
    ("environ", "says"),
    [
        ({"PGSSLMODE": "verify_full"}, "PGSSLMODE: sslmode 'verify_full' is not one of disable, "),
        (
            {"DATABASE_URL": "postgresql://u:{password}@db/x?sslmode=on"},
            "DATABASE_URL: sslmode 'on'",
        ),
        ({"PGSSLMODE": "verify-full"}, "PGSSLROOTCERT: not set: sslmode verify-full checks "),
        ({"PGSSLMODE": "verify-ca"}, "PGSSLROOTCERT: not set: sslmode verify-ca checks "),
        (
            {"PGSSLROOTCERT": "{tmp}/ca.crt"},
            "PGSSLMODE: sslmode prefer never checks the database's certificate, yet a CA file",
        ),
        (
            {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": "{tmp}/missing.crt"},
            "PGSSLROOTCERT: '{tmp}/missing.crt' cannot be read (No such file or directory)",
        ),
        (
            {"PGSSLMODE": "verify-full", "PGSSLROOTCERT": "{tmp}"},
            "PGSSLROOTCERT: '{tmp}' cannot be read (Is a directory)",
        ),
        (
            {"PGSSLMODE": "require", "PGSSLROOTCERT": "{tmp}/not-a-certificate.pem"},
            "PGSSLROOTCERT: '{tmp}/not-a-certificate.pem' holds no PEM certificate",
        ),
        (
            {
                "DATABASE_URL": "postgresql://u:{password}@db/x"
                "?sslmode=verify-full&sslrootcert={tmp}/missing.crt"
            },
            "DATABASE_URL: '{tmp}/missing.crt' cannot be read",
        ),
    ],
)
def test_tls_settings_are_checked_at_start_in_one_line_naming_the_variable(
    tmp_path: Path, command: str, environ: dict[str, str], says: str
) -> None:
    (tmp_path / "not-a-certificate.pem").write_text("not a certificate\n")

    def filled(text: str) -> str:
        return text.format(tmp=tmp_path, password=PASSWORD)

    environ = {"PGHOST": "db.invalid", **{k: filled(v) for k, v in environ.items()}}
    result = run_cli([command], clean_environ(**environ), timeout=15)
    assert (result.returncode, result.stdout) == (2, "")
    [line] = result.stderr.splitlines()
    assert line.startswith(f"user-service: configuration error: {filled(says)}"), line
    assert PASSWORD not in result.stderr


def test_the_url_parameters_win_over_the_environment() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://db/x?sslmode=verify-ca&sslrootcert=/url/ca.pem",
            "PGSSLMODE": "require",
            "PGSSLROOTCERT": "/env/ca.pem",
        }
    )
    assert (settings.ssl_mode, settings.ssl_root_cert) == ("verify-ca", "/url/ca.pem")
    assert settings.ssl_root_cert_variable == "DATABASE_URL"
    from_env = Settings.from_env(
        {"PGHOST": "db", "PGSSLMODE": "verify-full", "PGSSLROOTCERT": "/env/ca.pem"}
    )
    assert (from_env.ssl_mode, from_env.ssl_root_cert) == ("verify-full", "/env/ca.pem")
    assert from_env.ssl_root_cert_variable == "PGSSLROOTCERT"


def test_a_verify_mode_needs_a_ca_even_from_the_url() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"DATABASE_URL": "postgresql://db/x?sslmode=verify-full"})
    assert raised.value.variable == "PGSSLROOTCERT"


@pytest.mark.parametrize(
    ("mode", "with_ca", "expected"),
    [
        # (check_hostname, verify_mode) of the context; a string is left to asyncpg.
        ("disable", False, "disable"),
        ("allow", False, "allow"),
        ("prefer", False, "prefer"),
        ("require", False, (False, ssl.CERT_NONE)),
        ("require", True, (False, ssl.CERT_REQUIRED)),
        ("verify-ca", True, (False, ssl.CERT_REQUIRED)),
        ("verify-full", True, (True, ssl.CERT_REQUIRED)),
    ],
)
def test_each_mode_gives_asyncpg_what_it_says(
    certificates: Certificates, mode: str, with_ca: bool, expected: object
) -> None:
    environ = {"PGHOST": "db", "PGSSLMODE": mode}
    if with_ca:
        environ["PGSSLROOTCERT"] = str(certificates.ca)
    given = connect_kwargs(Settings.from_env(environ))["ssl"]
    if isinstance(given, ssl.SSLContext):
        assert (given.check_hostname, given.verify_mode) == expected
        assert given.minimum_version >= ssl.TLSVersion.TLSv1_2
    else:
        assert given == expected
