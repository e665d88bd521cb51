"""/api/v1/openapi.json: the API's own description, open to everyone."""

from __future__ import annotations

import json
from functools import cache

from aiohttp import web

from .. import api_models as a
from .. import appkeys, openapi
from ..endpoints import API, Endpoints

routes = Endpoints()


@cache
def _body(operations: tuple) -> bytes:
    return json.dumps(openapi.document(operations), ensure_ascii=False).encode()


@routes.operation(
    "GET", f"{API}/openapi.json", "getOpenAPI", "This document", "", "Operations", "none",
    200, a.OpenAPIDocument, (), {"openapi": "3.1.0", "info": {"title": "paygate", "version": "0.1.0"},
                                 "paths": {}})
async def openapi_json(request: web.Request) -> web.Response:
    """The document of what this app serves (app.add_endpoints)."""
    return web.Response(body=_body(tuple(request.app[appkeys.OPERATIONS])), content_type="application/json",
                        charset="utf-8")
