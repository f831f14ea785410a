"""GET /docs over HTTP: its headers, its assets, the off switch, and no cost to the API.

These need no database: the app is built against a port nothing listens on. The page in a real
browser is tests/browser/test_docs_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from service import docs
from service.app import create_app
from service.config import ConfigError, Settings
from tests.docs_origins import check_no_other_origin, page_links, same_origin_path
from tests.helpers import WRITE_AUTH, Client, base_environ

NO_DATABASE = "postgresql://u:p@127.0.0.1:9/none"
CONTENT_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".png": "image/png",
}


def settings(**environ: str) -> Settings:
    return Settings.from_env(base_environ(NO_DATABASE, **environ))


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., Any]]:
    """Apps without default headers: every request here goes without an API key."""
    clients: list[Client] = []

    async def make(**environ: str) -> Client:
        client: Client = TestClient(TestServer(create_app(settings(**environ))))
        await client.start_server()
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


def csp(header: str) -> dict[str, list[str]]:
    directives = (d.split() for d in header.split(";") if d.strip())
    return {name: sources for name, *sources in directives}


async def page_and_assets(client: Client) -> tuple[str, list[str]]:
    response = await client.get("/docs")
    assert response.status == 200
    html = await response.text()
    return html, page_links(html).urls


async def test_page_is_strict_html_without_inline_code(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    response = await client.get("/docs")
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    policy = csp(response.headers["Content-Security-Policy"])
    assert policy == {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "base-uri": ["'none'"],
        "form-action": ["'none'"],
        "frame-ancestors": ["'none'"],
    }
    links = page_links(await response.text())
    assert links.inline == [], "the CSP allows no inline script or style"
    assert links.urls and all(same_origin_path(url) for url in links.urls), links.urls


async def test_every_asset_is_typed_cacheable_and_open_without_a_key(
    make_client: Callable[..., Any],
) -> None:
    client = await make_client()
    _, urls = await page_and_assets(client)
    assert {url.rsplit("/", 1)[1] for url in urls} >= {"swagger-ui-bundle.js", "docs.js"}
    for url in urls:
        response = await client.get(url)  # no Authorization header
        assert response.status == 200, url
        extension = url[url.rindex(".") :]
        assert response.content_type == CONTENT_TYPES[extension], url
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Content-Security-Policy"] == docs.CONTENT_SECURITY_POLICY


async def test_the_page_and_its_files_name_no_other_origin(
    make_client: Callable[..., Any],
) -> None:
    client = await make_client()
    html, urls = await page_and_assets(client)
    check_no_other_origin("docs.html", html)
    for url in urls:
        if not url.endswith(".png"):
            check_no_other_origin(url.rsplit("/", 1)[1], await (await client.get(url)).text())


def test_start_up_script_loads_this_services_document_and_sends_nothing_away() -> None:
    script = resources.files("service").joinpath("static/docs.js").read_text()
    assert 'url: "/openapi.json"' in script
    assert "validatorUrl: null" in script  # the default posts the document to swagger.io
    assert "persistAuthorization: false" in script  # no API key in localStorage


async def test_an_old_or_unknown_asset_url_is_a_404(make_client: Callable[..., Any]) -> None:
    client = await make_client()
    _, urls = await page_and_assets(client)
    bundle = next(url for url in urls if url.endswith("/swagger-ui-bundle.js"))
    prefix, digest, _ = bundle.rsplit("/", 2)
    for url in (
        f"{prefix}/{'0' * len(digest)}/swagger-ui-bundle.js",  # another release's digest
        f"{prefix}/{digest}/swagger-ui-bundle.js.map",
        f"{prefix}/{digest}/index.html",  # the package's demo page (the petstore)
        f"{prefix}/{digest}/docs.html",
        f"{prefix}/{digest}/oauth2-redirect.html",
    ):
        response = await client.get(url)
        assert response.status == 404, url
        assert await response.json() == {"error": "not found"}


async def test_docs_enabled_false_serves_no_page_and_no_asset(
    make_client: Callable[..., Any],
) -> None:
    on = await make_client()
    _, urls = await page_and_assets(on)
    off = await make_client(DOCS_ENABLED="false")
    for path in ["/docs", *urls]:
        assert (await off.get(path)).status == 404, path
    assert not [r for r in off.app.router.resources() if r.canonical.startswith("/docs")]
    assert (await off.get("/openapi.json")).status == 200


@pytest.mark.parametrize(
    ("raw", "enabled"),
    [("", True), ("true", True), ("1", True), ("YES", True), ("false", False), ("0", False)],
)
def test_docs_enabled_parses_like_the_other_booleans(raw: str, enabled: bool) -> None:
    assert Settings.from_env({"DOCS_ENABLED": raw}).docs_enabled is enabled


def test_a_bad_docs_enabled_names_the_variable() -> None:
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"DOCS_ENABLED": "maybe"})
    assert raised.value.variable == "DOCS_ENABLED"
    assert str(raised.value) == "DOCS_ENABLED: 'maybe' is not true or false"


async def test_files_are_read_when_the_app_is_made_never_per_request(
    make_client: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[str] = []
    read = docs._read

    def counting_read(file: Traversable) -> bytes:
        reads.append(file.name)
        return read(file)

    monkeypatch.setattr(docs, "_read", counting_read)
    client = await make_client()
    read_at_start = sorted(reads)
    assert "swagger-ui-bundle.js" in read_at_start
    _, urls = await page_and_assets(client)
    for url in urls * 3:
        assert (await client.get(url)).status == 200
    assert sorted(reads) == read_at_start


async def test_the_api_keeps_its_middleware_and_its_key_check(
    make_client: Callable[..., Any],
) -> None:
    on = await make_client()
    off = await make_client(DOCS_ENABLED="false")
    assert on.app.middlewares == off.app.middlewares
    assert (await on.get("/users")).status == 401  # /docs is open; /users is not
    assert (await on.get("/users", headers=WRITE_AUTH)).status == 503  # (no database here)


async def test_asset_requests_are_counted_under_one_route_template(
    make_client: Callable[..., Any],
) -> None:
    client = await make_client()
    _, urls = await page_and_assets(client)
    for url in urls:
        await client.get(url)
    exposition = await (await client.get("/metrics")).text()
    routes = {
        line.split('route="', 1)[1].split('"', 1)[0]
        for line in exposition.splitlines()
        if line.startswith("user_service_http_requests_total{")
    }
    assert routes == {"/docs", "/docs/assets/{digest}/{name}"}


def test_the_page_is_not_an_operation_of_the_api_document() -> None:
    # As FastAPI does with its /docs: the page is a view of the API, not part of it.
    spec = json.loads(resources.files("service").joinpath("openapi.json").read_text())
    assert not [path for path in spec["paths"] if path.startswith("/docs")]
