"""TLS to PostgreSQL: asyncpg's `ssl` argument from the settings, the CA file checked at start,
and one clear sentence for a certificate the client refuses.

asyncpg alone would read sslmode and sslrootcert from DATABASE_URL or PGSSLMODE/PGSSLROOTCERT,
and, with neither CA given, fall back to ~/.postgresql/root.crt (never to the system's CAs).
The service resolves both settings once (service/config.py) and builds the context itself for
the modes that may check a certificate, so what is checked is exactly what the settings say.
"""

from __future__ import annotations

import ssl

from service.config import CHECKING_SSL_MODES, ConfigError, Settings

# OpenSSL's X509_V_ERR_HOSTNAME_MISMATCH and X509_V_ERR_IP_ADDRESS_MISMATCH.
_HOST_MISMATCH = frozenset({62, 64})
# The chain does not lead to a CA in the file: unknown issuer, self-signed, incomplete chain.
_UNTRUSTED_CHAIN = frozenset({2, 18, 19, 20, 21})


def client_ssl(settings: Settings) -> ssl.SSLContext | str:
    """asyncpg's `ssl` argument. disable, allow and prefer check no certificate: asyncpg handles
    them (prefer and allow fall back between TLS and plain text). require, verify-ca and
    verify-full get a context that insists on TLS and checks what the mode says."""
    mode = settings.ssl_mode
    if mode not in CHECKING_SSL_MODES:
        return mode
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # As asyncpg's own contexts: PostgreSQL 17 requires it for direct TLS (sslnegotiation).
    context.set_alpn_protocols(["postgresql"])
    context.check_hostname = mode == "verify-full"
    if settings.ssl_root_cert is None:
        # require without a CA: encrypted, but anyone on the path could present a certificate.
        context.verify_mode = ssl.CERT_NONE
    else:
        # As libpq: require with a CA file checks the chain, like verify-ca.
        context.load_verify_locations(cafile=settings.ssl_root_cert)
    return context


def root_cert_problem(settings: Settings) -> ConfigError | None:
    """The CA file is read at start: a wrong path or a file without a certificate stops the
    process with exit 2 rather than looking like an outage later."""
    path = settings.ssl_root_cert
    if path is None:
        return None
    variable = settings.ssl_root_cert_variable
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=path)
    except ssl.SSLError:  # an OSError too: test it first
        return ConfigError(variable, f"{path!r} holds no PEM certificate")
    except OSError as exc:
        return ConfigError(variable, f"{path!r} cannot be read ({exc.strerror or exc})")
    return None


def describe_refused_certificate(exc: ssl.SSLCertVerificationError) -> str:
    """Why the client refused the database's certificate, and what to check; one line."""
    reason = (exc.verify_message or str(exc)).rstrip(".")
    if exc.verify_code in _HOST_MISMATCH:
        hint = (
            "connect by a host name the certificate lists (PGHOST or DATABASE_URL), "
            "or use sslmode verify-ca, which checks the CA but not the name"
        )
    elif exc.verify_code in _UNTRUSTED_CHAIN:
        hint = "the database's certificate is not signed by a CA in PGSSLROOTCERT (or sslrootcert)"
    else:
        return f"TLS certificate refused ({reason})"
    return f"TLS certificate refused ({reason}): {hint}"
