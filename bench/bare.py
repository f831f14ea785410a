"""The floor under GET /users/{id}: the same query on the same pool, and nothing else.

aiohttp answering GET /users/{id} with the service's own SQL function (users.select_user) on a
pool the service's own way (service.db.Database: the same connect arguments, sizes and
release without RESET), then the same JSON: no middleware, no access log, no metrics, no
authentication, no per-request deadline. What the service adds on top of it is what its
features cost per request.

    DATABASE_URL=... python -m bench.bare --port 8082 [--uvloop]
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web

from bench import standalone
from service import users
from service.config import Settings
from service.db import Database
from service.metrics import Metrics

DATABASE: web.AppKey[Database] = web.AppKey("database", Database)


async def _get_user(request: web.Request) -> web.Response:
    pool = request.app[DATABASE].pool
    if pool is None:
        raise web.HTTPServiceUnavailable
    async with pool.acquire() as conn:
        user = await users.select_user(conn, int(request.match_info["user_id"]))
    if user is None:
        raise web.HTTPNotFound
    return web.json_response(user.to_json())


async def _pool(app: web.Application) -> AsyncIterator[None]:
    await app[DATABASE].connect()
    yield
    await app[DATABASE].close()


def main() -> None:
    app = web.Application()
    app[DATABASE] = Database(Settings.from_env(os.environ), Metrics(), observe_queries=False)
    app.cleanup_ctx.append(_pool)
    app.router.add_get("/users/{user_id}", _get_user, allow_head=False)
    standalone.run(app, __doc__)


if __name__ == "__main__":
    main()
