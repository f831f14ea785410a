"""HTTP <-> domain for /users. No SQL here, no error formatting: see users.py and errors.py."""

from __future__ import annotations

from aiohttp import web

from service import users
from service.errors import NotFound
from service.pagination import decode_cursor, encode_cursor, parse_limit
from service.state import DATABASE, SETTINGS
from service.users import PagePosition
from service.validation import (
    parse_new_user,
    parse_user,
    parse_user_id,
    read_json_object,
    reject_unknown_query,
)

_LIST_PARAMETERS = frozenset({"limit", "cursor"})


def _user_not_found() -> NotFound:
    return NotFound("user not found")


async def list_users(request: web.Request) -> web.Response:
    reject_unknown_query(request, _LIST_PARAMETERS)
    limit = parse_limit(request.query.get("limit"))
    cursor = request.query.get("cursor")
    after = decode_cursor(cursor) if cursor is not None else None
    async with request.app[DATABASE].connection() as conn:
        # One extra row tells whether another page exists, without a COUNT.
        page = await users.select_users_page(conn, limit + 1, after)
    more, page = len(page) > limit, page[:limit]
    next_cursor = None
    if more:
        last = page[-1]
        next_cursor = encode_cursor(PagePosition(created_at=last.created_at, id=last.id))
    return web.json_response(
        {"users": [u.to_json() for u in page], "count": len(page), "next_cursor": next_cursor}
    )


async def create_user(request: web.Request) -> web.Response:
    body = await read_json_object(request, request.app[SETTINGS].max_body_bytes)
    values = parse_new_user(body)
    async with request.app[DATABASE].connection() as conn:
        user = await users.insert_user(conn, *values)
    return web.json_response(user.to_json(), status=201, headers={"Location": f"/users/{user.id}"})


async def get_user(request: web.Request) -> web.Response:
    user_id = parse_user_id(request.match_info["user_id"])
    async with request.app[DATABASE].connection() as conn:
        user = await users.select_user(conn, user_id)
    if user is None:
        raise _user_not_found()
    return web.json_response(user.to_json())


async def replace_user(request: web.Request) -> web.Response:
    return await _update(request, partial=False)


async def patch_user(request: web.Request) -> web.Response:
    return await _update(request, partial=True)


async def _update(request: web.Request, *, partial: bool) -> web.Response:
    user_id = parse_user_id(request.match_info["user_id"])
    body = await read_json_object(request, request.app[SETTINGS].max_body_bytes)
    fields = parse_user(body, partial=partial)
    async with request.app[DATABASE].connection() as conn:
        user = await users.update_user(conn, user_id, *fields.values)
    if user is None:
        raise _user_not_found()
    return web.json_response(user.to_json())


async def delete_user(request: web.Request) -> web.Response:
    user_id = parse_user_id(request.match_info["user_id"])
    async with request.app[DATABASE].connection() as conn:
        deleted = await users.delete_user(conn, user_id)
    if not deleted:
        raise _user_not_found()
    return web.Response(status=204)
