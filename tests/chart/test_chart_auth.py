"""API keys and secret hygiene in the chart: a write key generated on install and kept across
upgrades (real helm `lookup` against the fake API server), the pods given only its SHA-256, a
user's own Secret instead, the explicit opt-out, and no secret value anywhere in the rendered
output outside `kind: Secret` objects."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from service.api_keys import parse_api_keys
from service.config import Settings

from .fake_apiserver import fake_apiserver
from .render import NAMESPACE, Helm, Render, container_env, env_map
from .test_chart_database import db_secret, secret_object, server_render
from .test_chart_topology import install_notes

pytestmark = pytest.mark.chart

KEY_ENTRY = re.compile(r"admin:write:sha256:[0-9a-f]{64}")


def api_secret(render: Render) -> dict[str, str]:
    return render.secret("user-service-api")


def checksum(render: Render, name: str) -> str | None:
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    value = annotations.get(f"checksum/{name}")
    return None if value is None else str(value)


# --- the generated key -----------------------------------------------------------------------


def test_generated_key_and_its_api_keys_entry(default_render: Render) -> None:
    secret = default_render.one("Secret", "user-service-api")
    assert secret["type"] == "Opaque"
    assert "annotations" not in secret["metadata"], "a release object: not a hook, not kept"
    data = api_secret(default_render)
    assert set(data) == {"api-key", "api-keys"}
    key = data["api-key"]
    assert re.fullmatch(r"[A-Za-z0-9]{43}", key), "43 random alphanumerics: over 256 bits"
    assert KEY_ENTRY.fullmatch(data["api-keys"])
    assert data["api-keys"] == f"admin:write:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    # What the service makes of the entry: one write key, which the stored key opens.
    [parsed] = parse_api_keys(data["api-keys"])
    assert parsed.digest == hashlib.sha256(key.encode()).digest()


def test_api_pods_get_the_digest_never_the_key(default_render: Render) -> None:
    template = default_render.one("Deployment")["spec"]["template"]
    env = env_map(default_render.container("Deployment"))
    assert env["API_KEYS"]["valueFrom"]["secretKeyRef"] == {
        "name": "user-service-api",
        "key": "api-keys",
    }
    # No reference anywhere in the pod template to the key itself.
    references = re.findall(r"key: ([\w-]+)", yaml.safe_dump(template))
    assert "api-key" not in references
    assert "volumes" not in template["spec"] or all(
        "secret" not in v for v in template["spec"]["volumes"]
    )
    assert checksum(default_render, "auth-secret")


def test_key_name_and_explicit_key(helm: Helm) -> None:
    key = "chosen-key-0123456789abcdefghij"
    render = helm.render({"auth": {"keyName": "ops", "apiKey": key}})
    data = api_secret(render)
    assert data["api-key"] == key
    assert data["api-keys"] == f"ops:write:sha256:{hashlib.sha256(key.encode()).hexdigest()}"
    # Same key, same Secret, same checksum: no roll. Another key rolls the pods.
    assert checksum(helm.render({"auth": {"keyName": "ops", "apiKey": key}}), "auth-secret") == (
        checksum(render, "auth-secret")
    )
    other = helm.render({"auth": {"keyName": "ops", "apiKey": key + "x"}})
    assert checksum(other, "auth-secret") != checksum(render, "auth-secret")


def stored_api_secret(key: str) -> dict[str, Any]:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return secret_object(
        "user-service-api", {"api-key": key, "api-keys": f"admin:write:sha256:{digest}"}
    )


def test_upgrade_keeps_the_stored_key(each_helm: Helm, tmp_path: Path) -> None:
    """What `helm upgrade` sees: lookup finds the release's API key Secret and keeps the key."""
    stored = "stored-key-from-the-first-install-0123456789"
    objects = {(NAMESPACE, "user-service-api"): stored_api_secret(stored)}
    with fake_apiserver(tmp_path, objects) as config:
        first = server_render(each_helm, config)
        second = server_render(each_helm, config)
    assert api_secret(first)["api-key"] == stored
    assert first.one("Secret", "user-service-api") == second.one("Secret", "user-service-api")
    digest = hashlib.sha256(stored.encode()).hexdigest()
    assert api_secret(first)["api-keys"] == f"admin:write:sha256:{digest}"
    assert checksum(first, "auth-secret") == checksum(second, "auth-secret"), "no roll"


def test_first_install_generates_a_new_key_each_time(each_helm: Helm, tmp_path: Path) -> None:
    with fake_apiserver(tmp_path, {}) as config:
        keys = {api_secret(server_render(each_helm, config))["api-key"] for _ in range(2)}
    assert len(keys) == 2


def test_explicit_key_wins_over_the_stored_one(each_helm: Helm, tmp_path: Path) -> None:
    objects = {(NAMESPACE, "user-service-api"): stored_api_secret("old-key-0123456789abcdef")}
    new = "new-key-0123456789abcdefghij"
    with fake_apiserver(tmp_path, objects) as config:
        render = server_render(each_helm, config, {"auth": {"apiKey": new}})
    assert api_secret(render)["api-key"] == new


# --- a user's Secret, or no keys at all ------------------------------------------------------


def test_existing_secret_supplies_api_keys(helm: Helm) -> None:
    render = helm.render({"auth": {"existingSecret": "my-keys", "existingSecretKey": "entries"}})
    assert "user-service-api" not in {s["metadata"]["name"] for s in render.all("Secret")}
    env = env_map(render.container("Deployment"))
    assert env["API_KEYS"]["valueFrom"]["secretKeyRef"] == {"name": "my-keys", "key": "entries"}
    assert checksum(render, "auth-secret") is None
    # Whatever the user puts there reaches the app: several keys, read-only ones, digests.
    entries = "deploy:write:sha256:" + "a" * 64 + ",ci:read:ci-read-key-0123456789abcdef"
    settings = Settings.from_env(
        container_env(
            render,
            render.container("Deployment"),
            {("my-keys", "entries"): entries, ("user-service-postgresql", "app-password"): "x"},
        )
    )
    assert [(k.name, k.scope.value) for k in settings.api_keys] == [
        ("deploy", "write"),
        ("ci", "read"),
    ]
    assert settings.auth_problem() is None


def test_auth_disabled_is_explicit_and_complete(helm: Helm) -> None:
    render = helm.render({"auth": {"disabled": True}})
    assert "user-service-api" not in {s["metadata"]["name"] for s in render.all("Secret")}
    assert render.one("ConfigMap", "user-service")["data"]["AUTH_DISABLED"] == "true"
    env = container_env(render, render.container("Deployment"))
    assert "API_KEYS" not in env
    settings = Settings.from_env(env)
    assert settings.auth_disabled
    assert settings.api_keys == ()
    assert settings.auth_problem() is None, "the opt-out the service demands"


def test_auth_is_on_by_default(default_render: Render) -> None:
    assert default_render.one("ConfigMap", "user-service")["data"]["AUTH_DISABLED"] == "false"


# --- secret hygiene --------------------------------------------------------------------------

OWNER_PASSWORD = "owner-password-K1n0wn-d8f3a2"
APP_PASSWORD = "app-password-K1n0wn-77c1e9"
API_KEY = "api-key-K1n0wn-0123456789abcdef"
KNOWN_SECRETS = [OWNER_PASSWORD, APP_PASSWORD, API_KEY]
KNOWN: dict[str, Any] = {
    "postgresql": {"auth": {"password": OWNER_PASSWORD, "appPassword": APP_PASSWORD}},
    "auth": {"apiKey": API_KEY},
}


def forms(secret: str) -> set[str]:
    """A secret as it could leak: itself, base64 (as in a Secret's data), its URL-quoted form."""
    return {
        secret,
        base64.b64encode(secret.encode()).decode(),
        secret.replace("-", "%2D"),
    }


def leaks(render: Render, secrets: list[str]) -> list[str]:
    """Where any form of a secret appears in a non-Secret object (every field: data,
    annotations, labels, args, env)."""
    found = []
    for doc in render.non_secret_docs():
        text = yaml.safe_dump(doc)
        found += [
            f"{doc['kind']}/{doc['metadata']['name']}: {i}"
            for i, secret in enumerate(secrets)
            if any(form in text for form in forms(secret))
        ]
    return found


def test_known_secrets_appear_only_in_secrets(helm: Helm) -> None:
    render = helm.render(KNOWN)
    secrets = KNOWN_SECRETS
    # They are in the Secrets (so the search below would see them if they leaked) ...
    stored = yaml.safe_dump([d for d in render.docs if d["kind"] == "Secret"])
    assert all(base64.b64encode(s.encode()).decode() in stored for s in secrets)
    # ... and nowhere else: not in a ConfigMap, an annotation, an env value, an argument.
    assert leaks(render, secrets) == []
    # The checksum annotations are hashes of the Secret templates, not their content.
    annotations = render.one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    for name in ("checksum/postgresql-secret", "checksum/auth-secret"):
        assert re.fullmatch(r"[0-9a-f]{64}", annotations[name])


@pytest.mark.parametrize(
    "values", [{}, {"migration": {"enabled": False}}, {"auth": {"existingSecret": "k"}}]
)
def test_generated_secrets_appear_only_in_secrets(helm: Helm, values: dict[str, Any]) -> None:
    render = helm.render(values)
    secrets = [render.secret("user-service-postgresql")[k] for k in ("password", "app-password")]
    if not values.get("auth"):
        secrets.append(api_secret(render)["api-key"])
    assert leaks(render, secrets) == []


def test_key_digest_is_only_in_the_api_secret(default_render: Render) -> None:
    """The digest is not a secret, but it belongs to the Secret: no ConfigMap carries it."""
    digest = api_secret(default_render)["api-keys"].rsplit(":", 1)[1]
    assert leaks(default_render, [digest]) == []


def test_notes_never_show_a_secret(tmp_path: Path) -> None:
    notes = install_notes(KNOWN, tmp_path)
    assert "get secret user-service-api -o jsonpath='{.data.api-key}'" in notes
    for secret in KNOWN_SECRETS:
        assert not any(form in notes for form in forms(secret))


def test_upgrade_render_leaks_no_stored_secret(helm: Helm, tmp_path: Path) -> None:
    """Values found by lookup (an upgrade) stay in Secrets too."""
    objects = {
        (NAMESPACE, "user-service-postgresql"): db_secret("stored-owner-Zq81", "stored-app-Zq82"),
        (NAMESPACE, "user-service-api"): stored_api_secret("stored-api-key-Zq83-0123456789"),
    }
    with fake_apiserver(tmp_path, objects) as config:
        render = server_render(helm, config)
    assert leaks(render, ["stored-owner-Zq81", "stored-app-Zq82", "stored-api-key-Zq83"]) == []
    assert api_secret(render)["api-key"] == "stored-api-key-Zq83-0123456789"
