"""Every route the service answers, in one table: paths, methods and handlers at a glance.

GET routes answer GET only (no implicit HEAD): the OpenAPI document lists no HEAD operation.
/docs and its assets, like /openapi.json and the probes, are open: auth_middleware guards
/users only.
"""

from __future__ import annotations

from aiohttp import web

from service import docs, handlers, health
from service.config import Settings
from service.metrics import metrics_handler

USER = "/users/{user_id}"
METRICS_ROUTES = (web.get("/metrics", metrics_handler, allow_head=False),)


def api_routes(settings: Settings) -> list[web.RouteDef]:
    """The API app's routes; /metrics among them unless METRICS_PORT gives it its own app."""
    routes = [
        web.get("/healthz", health.liveness, allow_head=False),
        web.get("/readyz", health.readiness, allow_head=False),
        web.get("/health", health.combined_health, allow_head=False),
        web.get("/users", handlers.list_users, allow_head=False),
        web.post("/users", handlers.create_user),
        web.get(USER, handlers.get_user, allow_head=False),
        web.put(USER, handlers.replace_user),
        web.patch(USER, handlers.patch_user),
        web.delete(USER, handlers.delete_user),
        web.get("/openapi.json", docs.openapi_document, allow_head=False),
    ]
    if settings.metrics_port is None:
        routes += METRICS_ROUTES
    if settings.docs_enabled:
        page = docs.DocsPage()  # reads its files now, once
        routes += [
            web.get("/docs", page.get_page, allow_head=False),
            # One route template for every asset: one metrics label, whatever the digest.
            web.get(f"{docs.ASSETS_PREFIX}/{{digest}}/{{name}}", page.get_asset, allow_head=False),
        ]
    return routes
