"""Secret hygiene of the image and of a running container, and the secure default.

- The image's layers (`docker history --no-trunc`) and its config (`docker inspect`: Env,
  Labels, everything else) hold no secret: no key, no password, no credentialed URL, and the
  image's ENV sets no secret variable, not even a default.
- A container run with this session's known key and passwords never writes any of them to its
  output (`docker logs`), at DEBUG level, whatever the requests; nor does `migrate`.
- With a database configured and no API keys, the container refuses to start: exit 2, one line
  that names API_KEYS and says how to fix it (and never echoes a password).
"""

from __future__ import annotations

import json
import re
import secrets
import urllib.error
import urllib.request

import pytest

from service.config import VARIABLES

from .conftest import ApiFactory
from .dockerctl import API_KEY, READ_KEY, Docker, Postgres

pytestmark = pytest.mark.container

SECRET_VARIABLES = {v.name for v in VARIABLES if v.secret}
# What a secret assignment or a credential looks like in a Dockerfile line or an ENV entry.
SECRET_PATTERNS = [
    re.compile(r"://[^/\s:@]+:[^@\s/]+@"),  # a URL with user:password
    re.compile(r"\b(" + "|".join(sorted(SECRET_VARIABLES)) + r")="),
    re.compile(r"BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)"),
]
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|CREDENTIAL", re.IGNORECASE)


def session_secrets(pg: Postgres) -> dict[str, str]:
    return {
        "API key": API_KEY,
        "read key": READ_KEY,
        "owner password": pg.password,
        "app role password": pg.app_password,
    }


def found_in(text: str, values: dict[str, str]) -> list[str]:
    return [name for name, value in values.items() if value in text]


def test_image_layers_and_config_hold_no_secret(
    docker: Docker, images: str, pg_container: Postgres
) -> None:
    history = docker("history", "--no-trunc", "--format", "{{json .}}", images).stdout
    image = docker.inspect(images)
    config = image["Config"]
    everything = history + json.dumps(image)
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(everything), pattern.pattern
    assert found_in(everything, session_secrets(pg_container)) == []
    # No secret variable in the image's environment, not even an empty default: every secret
    # comes from the runtime (a Secret in Kubernetes, .env with compose).
    names = [entry.split("=", 1)[0] for entry in config["Env"]]
    assert not SECRET_VARIABLES & set(names), names
    assert not [n for n in names if SECRET_NAME.search(n)], names
    # Labels are public metadata: nothing secret-looking in them either.
    for key, value in (config.get("Labels") or {}).items():
        assert not SECRET_NAME.search(key), key
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(value), (key, value)


def request(url: str, method: str = "GET", key: str | None = None, scheme: str = "Bearer") -> int:
    req = urllib.request.Request(url, method=method)  # noqa: S310 (http on loopback)
    if key is not None:
        req.add_header("Authorization", f"{scheme} {key}")
    if method == "POST":
        req.add_header("Content-Type", "application/json")
        req.data = json.dumps(
            {"username": f"h{secrets.token_hex(4)}", "email": "h@ex.org"}
        ).encode()
    try:
        with urllib.request.urlopen(req, timeout=5) as response:  # noqa: S310
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_container_output_never_holds_a_secret(
    docker: Docker, start_api: ApiFactory, pg_container: Postgres, migrate_output: str
) -> None:
    api = start_api(LOG_LEVEL="DEBUG")
    stranger = secrets.token_urlsafe(32)  # a key nobody configured: logged no more than ours
    users = f"{api.base_url}/users"
    statuses = [
        request(users, "GET", API_KEY),
        request(users, "POST", API_KEY),
        request(users, "GET", READ_KEY),
        request(users, "POST", READ_KEY),  # 403: a read key on a write route
        request(users, "GET", stranger),
        request(users, "GET", API_KEY, scheme="Basic"),  # the right key, wrong scheme
        request(f"{users}/not-an-id", "GET", API_KEY),
        request(f"{api.base_url}/readyz"),
    ]
    assert statuses[:6] == [200, 201, 200, 403, 401, 401], statuses
    assert statuses[6] in {400, 404}, statuses  # authenticated, then a bad id
    assert statuses[7] == 200, statuses  # probes need no key
    logs = docker("logs", api.container)
    output = logs.stdout + logs.stderr
    assert '"api_key": "tests"' in output, "the key's name is logged"
    values = {**session_secrets(pg_container), "unconfigured key": stranger}
    assert found_in(output, values) == []
    assert found_in(migrate_output, values) == []
    assert "app role ready" in migrate_output


def test_refuses_to_start_with_a_database_and_no_keys(docker: Docker, images: str) -> None:
    password = secrets.token_urlsafe(16)
    for env in (
        {"PGHOST": "db", "PGUSER": "app", "PGPASSWORD": password},
        {"DATABASE_URL": f"postgresql://app:{password}@db:5432/users"},
    ):
        args = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
        proc = docker(
            "run", "--rm", "--network", "none", "--read-only", *args, images, check=False
        )  # fmt: skip
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1, proc.stderr
        assert "API_KEYS" in lines[0]
        assert "new-key" in lines[0]
        assert "AUTH_DISABLED=true" in lines[0]
        assert password not in proc.stdout + proc.stderr
