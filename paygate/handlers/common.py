"""What every API handler does the same way: services, auth, bodies, list queries."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from .. import appkeys, idempotency, schemas, views
from ..auth import authenticate
from ..errors import BadRequest
from ..idempotency import Receipt, Replay
from ..services import Services

Model = TypeVar("Model", bound=BaseModel)
API = "/api/v1"


def services(request: web.Request) -> Services:
    return request.app[appkeys.SERVICES]


async def merchant(request: web.Request) -> dict:
    return await authenticate(request, services(request).pool)


async def body(request: web.Request, model: type[Model]) -> Model:
    return schemas.parse(model, await request.read())


def respond(data: dict, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data), content_type="application/json")


async def idempotent(request: web.Request, who: dict, status: int,
                     work: Callable[[Receipt], Awaitable[object]]) -> web.Response:
    """Run a writing operation under the request's Idempotency-Key (if any) and answer with its recorded bytes."""
    svc = services(request)
    outcome = await idempotency.claim(svc, who["id"], request.headers.get(idempotency.HEADER), request.method,
                                      request.path, await request.read(), status)
    if isinstance(outcome, Replay):
        return web.Response(status=outcome.status, body=outcome.body, content_type="application/json",
                            headers={"Idempotent-Replayed": "true"})
    try:
        await work(outcome)
    except BaseException:
        await idempotency.release(svc, outcome)
        raise
    return web.Response(status=outcome.status, body=outcome.body, content_type="application/json")


def choice(*allowed: str) -> Callable[[str, str], str]:
    def parse(value: str, name: str) -> str:
        if value not in allowed:
            raise BadRequest(f"{name} must be one of {', '.join(allowed)}", field=name)
        return value

    return parse


def text(value: str, name: str) -> str:
    if not value or len(value) > 255:
        raise BadRequest(f"{name} must be 1 to 255 characters", field=name)
    return value


def _integer(query, name: str, default: int, low: int, high: int | None) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bound = f"{low} to {high}" if high is not None else f"at least {low}"
        raise BadRequest(f"{name} must be an integer {bound}", field=name)
    return value


def timestamp(value: str, name: str) -> datetime:
    """Unix seconds or ISO 8601; naive times are UTC."""
    try:
        if value.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        raise BadRequest(f"{name} must be unix seconds or an ISO 8601 time", field=name) from None


def list_query(request: web.Request, filters: dict[str, Callable[[str, str], object]]) -> dict:
    """limit, offset, from, to and the named filters; anything else is refused by name."""
    query = request.query
    for name in query:
        if name not in filters and name not in ("limit", "offset", "from", "to"):
            raise BadRequest(f"{name} is not a recognised query parameter", field=name)
    params = {name: parse(query[name], name) for name, parse in filters.items() if name in query}
    params["created_from"] = timestamp(query["from"], "from") if "from" in query else None
    params["created_to"] = timestamp(query["to"], "to") if "to" in query else None
    params["limit"] = _integer(query, "limit", 10, 1, 100)
    params["offset"] = _integer(query, "offset", 0, 0, None)
    return params


def page(rows: list[dict], total: int, params: dict, view: Callable[[dict], dict]) -> web.Response:
    return respond(views.page([view(r) for r in rows], total, params["limit"], params["offset"]))
