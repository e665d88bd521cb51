"""/api/v1/events"""

from __future__ import annotations

from aiohttp import web

from ...core import models
from ...core.operations.queries import get_event, list_events
from ..endpoints import API, EVENT, LIST_NOTE, PAGING, PAYMENT_ID, Endpoints, M, example_page, text_query
from .common import list_query, merchant, object_id, page, respond, services

routes = Endpoints()

# The list's filters, declared once: documented, and parsed by list_query.
FILTERS = (text_query("type", "only events of this type", "payment.captured"),
           text_query("object_id", "only events about this object", PAYMENT_ID))


@routes.operation(
    "GET", f"{API}/events", "listEvents", "List events", LIST_NOTE, "Events", M,
    200, models.EventList, (400, 401), example_page(EVENT),
    query=(*PAGING, *FILTERS))
async def index(request: web.Request) -> web.Response:
    who = await merchant(request)
    params = list_query(request, FILTERS)
    rows, total = await list_events(services(request), who, params)
    return page(rows, total, params, models.Event.view)


@routes.operation(
    "GET", f"{API}/events/{{id}}", "getEvent", "Get an event", "", "Events", M,
    200, models.Event, (401, 404), EVENT)
async def show(request: web.Request) -> web.Response:
    who = await merchant(request)
    return respond(await get_event(services(request), who, object_id(request, "evt")))
