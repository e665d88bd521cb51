"""/api/v1/events"""

from __future__ import annotations

from aiohttp import web

from ...core import views
from ...core.operations.queries import get_event, list_events
from .common import API, list_query, merchant, object_id, page, respond, services, text

routes = web.RouteTableDef()


@routes.get(f"{API}/events")
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, {"type": text, "object_id": text})
    rows, total = await list_events(services(request), who, params)
    return page(rows, total, params, views.event)


@routes.get(f"{API}/events/{{id}}")
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await get_event(services(request), who, object_id(request, "evt")))
