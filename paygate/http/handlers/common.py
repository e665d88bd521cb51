"""What every API handler does the same way: services, auth, bodies, list queries."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from ...core import idempotency, models, schemas
from ...core.idempotency import Receipt, Replay
from ...core.schemas import METADATA_KEY, METADATA_VALUE
from ...core.services import Services
from ...core.validation import check_time
from ...infra.errors import BadRequest, UnsupportedMediaType, no_such
from ...storage import Anchor, trim
from .. import appkeys, sessions
from ..auth import authenticate, has_credentials
from ..endpoints import METADATA_FILTER, PAGING, TEXT, Query
from ..ratelimit import count_api_request

Model = TypeVar("Model", bound=BaseModel)


def services(request: web.Request) -> Services:
    return request.app[appkeys.SERVICES]


async def merchant(request: web.Request, *, fresh: bool = False) -> dict:
    """The merchant by API key and secret, or else by dashboard session (whose writes need its CSRF token).

    ``fresh`` reads a key-authenticated merchant's row now instead of from the short auth cache. A request by key
    counts against the merchant's API rate limit (429 when over); the dashboard's, made by a person, do not.
    """
    svc = services(request)
    by_key = has_credentials(request)
    if by_key:
        who = await authenticate(request, svc.pool, None if fresh else svc.merchants)
    else:
        who = await sessions.authenticate(request, svc.pool)
    request[appkeys.MERCHANT_ID] = who["id"]  # for the access log
    if by_key:
        await count_api_request(request, who)
    return who


JSON = "application/json"


async def body(request: web.Request, model: type[Model]) -> Model:
    """The request's JSON body as ``model``; no body at all reads as ``{}``.

    A body counts as JSON only when the client says so (``application/json``, any parameters): a form or
    text body, or one with no Content-Type, is refused with 415 rather than guessed at.
    """
    raw = await request.read()
    if raw and request.content_type != JSON:
        raise UnsupportedMediaType(f"Content-Type must be {JSON}", field="Content-Type")
    return schemas.parse(model, raw)


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
    if not value or len(value) > 255 or not value.isprintable():
        raise BadRequest(f"{name} must be 1 to 255 printable characters", field=name)
    return value


INTEGER = re.compile(r"-?[0-9]{1,18}")
MAX_OFFSET = 1_000_000_000


def _integer(query, name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    value = int(raw) if INTEGER.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise BadRequest(f"{name} must be an integer from {low} to {high}", field=name)
    return value


def object_id(request: web.Request, prefix: str) -> str:
    """The {id} of the path; one that cannot be a paygate id of this kind is simply not found."""
    value = request.match_info["id"]
    if not ID_PATTERN.fullmatch(value) or not value.startswith(prefix + "_"):
        raise no_such(KINDS[prefix], value)
    return value


ID_PATTERN = re.compile(r"[a-z]{2,8}_[A-Za-z0-9]{8,64}")
# What each id prefix stands for, in the words a client reads ("no payment 'pay_…'", never "no pay …").
KINDS = {"order": "order", "pay": "payment", "rfnd": "refund", "evt": "event", "whd": "webhook delivery",
         "we": "webhook endpoint"}


def timestamp(value: str, name: str) -> datetime:
    """Unix seconds or an ISO 8601 time (as ``check_time`` takes it), in UTC."""
    if not INTEGER.fullmatch(value):
        return check_time(value, name, "unix seconds or an ISO 8601 time")
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (ValueError, OverflowError, OSError):
        raise BadRequest(f"{name} must be unix seconds or an ISO 8601 time", field=name) from None


PAGING_NAMES = frozenset(q.name for q in PAGING)


def list_query(request: web.Request, filters: tuple[Query, ...]) -> dict:
    """PAGING's parameters and the filters the operation declares (its ``query`` beyond PAGING), each parsed as
    its schema says; anything else is refused by name. ``offset`` is a count, or a cursor's ``Anchor``."""
    query = request.query
    by_metadata = METADATA_FILTER in filters
    parsers = {f.name: _parser(f) for f in filters if f != METADATA_FILTER}
    for name in query:
        if name not in parsers and name not in PAGING_NAMES and not (by_metadata and name.startswith("metadata")):
            raise BadRequest(f"{name} is not a recognised query parameter", field=name)
    params = {name: parse(query[name], name) for name, parse in parsers.items() if name in query}
    if by_metadata:
        params["metadata"] = _metadata(query)
    params["created_from"] = timestamp(query["from"], "from") if "from" in query else None
    params["created_to"] = timestamp(query["to"], "to") if "to" in query else None
    params["limit"] = _integer(query, "limit", 10, 1, 100)
    params["offset"] = _position(query)
    return params


def _position(query) -> int | Anchor:
    """Where the page starts: an offset, or the object of a cursor (the storage layer finds it, or refuses it
    naming the parameter)."""
    cursors = [name for name in ("starting_after", "ending_before") if name in query]
    if not cursors:
        return _integer(query, "offset", 0, 0, MAX_OFFSET)
    if len(cursors) == 2:
        raise BadRequest("give starting_after or ending_before, not both", field="ending_before")
    if "offset" in query:
        raise BadRequest(f"offset cannot be combined with {cursors[0]}", field="offset")
    name = cursors[0]
    return Anchor(text(query[name], name), before=name == "ending_before", name=name)


METADATA_PARAMETER = re.compile(r"metadata\[(.*)\]", re.DOTALL)


def _metadata(query) -> dict[str, str] | None:
    """The metadata[key]=value pairs to match, all of them; None when there are none."""
    pairs: dict[str, str] = {}
    for name, value in query.items():
        if not name.startswith("metadata"):
            continue
        found = METADATA_PARAMETER.fullmatch(name)
        if found is None:
            raise BadRequest(f"{name} is not a recognised query parameter; filter by metadata with "
                             f"metadata[key]=value", field=name)
        key = found.group(1)
        if not 1 <= len(key) <= METADATA_KEY or "[" in key or "]" in key or "\x00" in key:
            raise BadRequest(f"{name}: a metadata key is 1 to {METADATA_KEY} characters, without [ or ]", field=name)
        if key in pairs:
            raise BadRequest(f"{name} is given more than once", field=name)
        if not 1 <= len(value) <= METADATA_VALUE or "\x00" in value:
            raise BadRequest(f"{name} must be 1 to {METADATA_VALUE} characters", field=name)
        pairs[key] = value
    return pairs or None


def _parser(declared: Query) -> Callable[[str, str], str]:
    if "enum" in declared.schema:
        return choice(*declared.schema["enum"])
    if declared.schema == TEXT:
        return text
    raise ValueError(f"no parser for the query parameter {declared.name}'s schema {declared.schema}")


def page(rows: list[dict], total: int, params: dict, view: Callable[[dict], dict]) -> web.Response:
    """The list answer from what a list_page returned for ``params`` (list_query's)."""
    rows, has_more = trim(rows, params["limit"], params["offset"])
    offset = 0 if isinstance(params["offset"], Anchor) else params["offset"]
    return respond(models.Page.view([view(r) for r in rows], total, params["limit"], offset, has_more))
