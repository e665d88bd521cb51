"""/api/v1/openapi.json: the API's own description, open to everyone."""

from __future__ import annotations

import json
from functools import cache

from aiohttp import web

from .. import openapi
from .common import API

routes = web.RouteTableDef()


@cache
def _body() -> bytes:
    return json.dumps(openapi.document(), ensure_ascii=False).encode()


@routes.get(f"{API}/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.Response(body=_body(), content_type="application/json", charset="utf-8")
