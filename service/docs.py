"""GET /openapi.json, and GET /docs: Swagger UI for it, from installed files, never a CDN.

Swagger UI rather than Redoc or Scalar: it is the one whose pinned dist files come from PyPI
(swagger-ui-bundle-v2, hash-locked in requirements/main.txt like every other dependency, so the
image build needs no node), and its page sends real requests ("Try it out") with the bearer key
of its Authorize dialog. Redoc cannot send requests; Scalar's Python packages load its script
from a CDN. As with FastAPI's /docs, the page is not in the OpenAPI document: it is no part of
the API.

Every file is read once, when the app is created; a request only picks bytes from a dict. The
asset URLs carry a digest of all the files, so browsers may cache them for a year: a release
that changes any file changes every URL.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import PurePosixPath

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed

from service.state import OPENAPI

# What the page loads, nothing more: no source maps, no demo index.html (it points at the
# petstore), no OAuth redirect page (the API's one scheme is a bearer key).
_SWAGGER_UI_FILES = (
    "swagger-ui-bundle.js",
    "swagger-ui.css",
    "index.css",
    "favicon-32x32.png",
    "favicon-16x16.png",
)
_OWN_FILES = ("docs.js",)  # the page's start-up script, in service/static
_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
}
ASSETS_PREFIX = "/docs/assets"
# Everything from this origin. Swagger UI's icons are data: URIs in its CSS; "Try it out" calls
# this service (connect-src). No inline script or style, no plugin, no framing.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
# The page is revalidated (it names the current asset URLs); the assets never change.
PAGE_CACHE_CONTROL = "no-cache"
ASSET_CACHE_CONTROL = "public, max-age=31536000, immutable"


def _read(file: Traversable) -> bytes:
    return file.read_bytes()


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    headers: dict[str, str]

    @classmethod
    def make(cls, body: bytes, content_type: str, cache_control: str) -> _File:
        return cls(body, {**_HEADERS, "Content-Type": content_type, "Cache-Control": cache_control})

    def response(self) -> web.Response:
        return web.Response(body=self.body, headers=self.headers)


class DocsPage:
    """The page and its assets, in memory; its two methods are the routes' handlers."""

    def __init__(self) -> None:
        swagger_ui: Traversable = swagger_ui_path
        own = resources.files("service").joinpath("static")
        files = [(name, _read(swagger_ui.joinpath(name))) for name in _SWAGGER_UI_FILES]
        files += [(name, _read(own.joinpath(name))) for name in _OWN_FILES]
        digest = hashlib.sha256()
        for name, body in files:
            digest.update(name.encode() + b"\0" + hashlib.sha256(body).digest())
        self.digest = digest.hexdigest()[:16]
        self.assets = {
            name: _File.make(body, _CONTENT_TYPES[PurePosixPath(name).suffix], ASSET_CACHE_CONTROL)
            for name, body in files
        }
        html = _read(own.joinpath("docs.html")).decode()
        html = html.replace("{assets}", f"{ASSETS_PREFIX}/{self.digest}")
        self.page = _File.make(html.encode(), "text/html; charset=utf-8", PAGE_CACHE_CONTROL)

    async def get_page(self, request: web.Request) -> web.Response:
        return self.page.response()

    async def get_asset(self, request: web.Request) -> web.Response:
        asset = self.assets.get(request.match_info["name"])
        if asset is None or request.match_info["digest"] != self.digest:
            raise web.HTTPNotFound
        return asset.response()


async def openapi_document(request: web.Request) -> web.Response:
    """GET /openapi.json: the document, as built once at app creation."""
    return web.Response(body=request.app[OPENAPI], content_type="application/json")
