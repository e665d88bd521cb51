"""The only place that builds error responses; every response carries X-Request-Id (and an API request by key its
merchant's X-RateLimit-*), and API answers are not stored by caches."""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time

from aiohttp import web

from ..infra import logs, metrics
from ..infra.config import Config
from ..infra.errors import PaygateError, ServiceUnavailable
from ..storage import db
from . import sessions
from .appkeys import MERCHANT_ID, REQUEST_ID
from .ratelimit import QUOTA

log = logging.getLogger("paygate.http")
access_log = logging.getLogger("paygate.access")


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


# The error code of the answer, for its access log line: a refused request (bad JSON, too deep, a wrong type) is
# that one line at INFO, saying why, and no traceback.
ERROR_CODE = web.RequestKey("error_code", str)


def error_response(request: web.Request, status: int, error: dict, headers: dict | None = None) -> web.Response:
    request[ERROR_CODE] = error["code"]
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
    if quota := request.get(QUOTA):  # a request by API key, counted against its merchant's rate limit
        response.headers.update(quota.headers())
    if sessions.SESSION in request:  # a dashboard request; saved here, outside error_middleware, so that an
        await sessions.save(request, response)  # error answer that ended a session also clears its cookie
    if request.path.startswith(PRIVATE):
        response.headers.setdefault("Cache-Control", "no-store")  # answers about money and sessions
    return response


@web.middleware
async def access_middleware(request: web.Request, handler):
    """Count, time and log every request by its route template; outside error_middleware, so it sees the
    status the client gets. Logged: ids, route, status and time, never headers or bodies."""
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:  # redirects and the like, which error_middleware lets through
        status = exc.status
        raise
    except asyncio.CancelledError:
        status = 499  # the client went away first (nginx's code for it)
        raise
    finally:
        seconds = time.perf_counter() - started
        route = metrics.route_label(request)
        metrics.observe_request(route, request.method, status, seconds)
        if access_log.isEnabledFor(logging.INFO):
            _log_access(request, route, status, round(seconds * 1000, 1))


def _log_access(request: web.Request, route: str, status: int, duration_ms: float) -> None:
    """The request's one line: method, route, status, time, request id and the error code of a refusal; the
    fields (merchant, path, client too) only where they are written, in JSON."""
    error = request.get(ERROR_CODE)
    extra = None
    if logs.fields_wanted:
        extra = {"request_id": request.get(REQUEST_ID), "merchant_id": request.get(MERCHANT_ID), "route": route,
                 "method": request.method, "path": request.path, "status": status, "duration_ms": duration_ms,
                 "error": error, "client": request.remote}  # behind a trusted proxy, the real one
    access_log.info("%s %s %s %.1f ms %s%s", request.method, route, status, duration_ms, request.get(REQUEST_ID),
                    f" {error}" if error else "", extra=extra)


# What operators read to see an overload, and the document that says what a 503 is: never refused.
UNBOUNDED = frozenset({"/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"})


def in_flight_middleware(config: Config):
    """At most ``server.max_in_flight`` requests at once; one more is refused with 503 and Retry-After at once.

    Refused, not queued: a queue in front of a saturated process only adds its wait to every request behind it,
    while a refusal costs microseconds and tells the client (or its load balancer) to go elsewhere or come back.
    Inside error_middleware, which shapes the refusal; the access log counts it as the route's 503.
    """
    limit = config.server.max_in_flight
    retry_after = str(config.server.overload_retry_after)
    in_flight = 0

    @web.middleware
    async def bounded(request: web.Request, handler):
        nonlocal in_flight
        if request.path in UNBOUNDED:
            return await handler(request)
        if in_flight >= limit:
            raise ServiceUnavailable(f"this server is answering as many requests as it takes ({limit}); retry "
                                     "after Retry-After", headers={"Retry-After": retry_after})
        in_flight += 1
        metrics.HTTP_IN_FLIGHT.inc()
        try:
            return await handler(request)
        finally:
            in_flight -= 1
            metrics.HTTP_IN_FLIGHT.dec()

    return bounded


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
    except Exception as exc:
        if db.broken(exc):  # Postgres reached outside db.cursor/db.transaction, which answer this themselves
            log.warning("Postgres is out of reach on %s %s (request %s): %s", request.method, request.path,
                        request.get(REQUEST_ID), type(exc).__name__)
            unavailable = db.DatabaseUnavailable()
            return error_response(request, unavailable.status, unavailable.to_dict(), unavailable.headers)
        log.exception("unhandled error on %s %s (request %s)", request.method, request.path, request.get(REQUEST_ID))
        return error_response(
            request, 500, {"code": "SERVER_ERROR", "description": "internal error; quote the request_id to support"}
        )
