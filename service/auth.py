"""Authentication of /users requests by API key (keys are parsed in service/api_keys.py).

Digests are compared in constant time, and every configured key is compared on every request
(no early exit), so timing tells neither whether a key matched nor which came closest.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from aiohttp import web

from service.api_keys import ApiKey, digest
from service.errors import ApiError
from service.state import AUTH, METRICS, Handler

KEY_NAME: web.RequestKey[str] = web.RequestKey("api_key_name", str)


class Unauthorized(ApiError):
    status = 401

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, headers={"WWW-Authenticate": 'Bearer realm="user-service"'})
        self.reason = reason


class Forbidden(ApiError):
    status = 403

    def __init__(self, message: str) -> None:
        super().__init__(
            message,
            headers={"WWW-Authenticate": 'Bearer realm="user-service", error="insufficient_scope"'},
        )
        self.reason = "insufficient_scope"


class Authenticator:
    def __init__(self, keys: Iterable[ApiKey]) -> None:
        self._keys = tuple(keys)

    def identify(self, authorization: str | None) -> ApiKey:
        if authorization is None:
            raise Unauthorized("missing Authorization: Bearer <API key>", "missing")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise Unauthorized("Authorization must be: Bearer <API key>", "malformed")
        presented = digest(token)
        found: ApiKey | None = None
        for key in self._keys:
            if hmac.compare_digest(presented, key.digest):
                found = key
        if found is None:
            raise Unauthorized("unknown API key", "unknown_key")
        return found

    def authorize(self, authorization: str | None, method: str) -> ApiKey:
        key = self.identify(authorization)
        if not key.scope.allows(method):
            raise Forbidden(f"API key {key.name!r} may only read")
        return key


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Guards /users; probes, metrics and the API document stay open."""
    authenticator = request.app[AUTH]
    if authenticator is None or not request.path.startswith("/users"):
        return await handler(request)
    try:
        key = authenticator.authorize(request.headers.get("Authorization"), request.method)
    except (Unauthorized, Forbidden) as exc:
        request.app[METRICS].auth_failures.labels(exc.reason).inc()
        raise
    request[KEY_NAME] = key.name
    return await handler(request)
