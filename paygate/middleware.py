"""The only place that builds error responses; every response carries X-Request-Id, and API answers are not
stored by caches."""

from __future__ import annotations

import json
import logging
import secrets

from aiohttp import web

from .appkeys import REQUEST_ID
from .errors import PaygateError

log = logging.getLogger("paygate.http")


# aiohttp's own HTTP errors (404 route, 405, 413 ...) mapped to our codes.
HTTP_CODES = {
    400: "BAD_REQUEST_ERROR",
    401: "AUTHENTICATION_ERROR",
    403: "FORBIDDEN_ERROR",
    404: "NOT_FOUND_ERROR",
    405: "METHOD_NOT_ALLOWED",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


def error_response(request: web.Request, status: int, error: dict, headers: dict | None = None) -> web.Response:
    error = {**error, "request_id": request.get(REQUEST_ID)}
    return web.Response(
        status=status,
        body=json.dumps({"error": error}),
        content_type="application/json",
        headers=headers,
    )


PRIVATE = ("/api/", "/dashboard/api/")


@web.middleware
async def request_id_middleware(request: web.Request, handler):
    request[REQUEST_ID] = request.headers.get("X-Request-Id", "")[:64] or "req_" + secrets.token_hex(8)
    response = await handler(request)
    response.headers["X-Request-Id"] = request[REQUEST_ID]
    if request.path.startswith(PRIVATE):
        response.headers.setdefault("Cache-Control", "no-store")  # answers about money and sessions
    return response


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except PaygateError as exc:
        return error_response(request, exc.status, exc.to_dict(), exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = HTTP_CODES.get(exc.status, "BAD_REQUEST_ERROR" if exc.status < 500 else "SERVER_ERROR")
        description = exc.reason if exc.status != 413 else "request body is larger than 1 MiB"
        kept = ("allow", "access-control-")  # what a client needs from aiohttp's own errors
        headers = {k: v for k, v in exc.headers.items() if k.lower().startswith(kept)}
        return error_response(request, exc.status, {"code": code, "description": description}, headers)
    except Exception:
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request.get(REQUEST_ID))
        return error_response(
            request, 500, {"code": "SERVER_ERROR", "description": "internal error; quote the request_id to support"}
        )
