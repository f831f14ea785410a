"""The framework's ceiling: the service's aiohttp stack answering a constant JSON body.

No database, no middlewares, no access log: what one process of this python, aiohttp and event
loop can serve on this machine. The body has the size and shape of a GET /users/{id} answer,
and the route has the same template, so the router does the same work.

    python -m bench.ceiling --port 8081 [--uvloop]
"""

from __future__ import annotations

import json

from aiohttp import web

from bench import standalone

_BODY = json.dumps(
    {
        "id": 12345,
        "username": "user12345",
        "email": "user12345@example.com",
        "created_at": "2025-01-01T12:00:00.000000Z",
        "updated_at": "2025-01-01T12:00:00.000000Z",
    }
).encode()


async def _constant(request: web.Request) -> web.Response:
    return web.Response(body=_BODY, content_type="application/json")


def main() -> None:
    app = web.Application()
    app.router.add_get("/users/{user_id}", _constant, allow_head=False)
    standalone.run(app, __doc__)


if __name__ == "__main__":
    main()
