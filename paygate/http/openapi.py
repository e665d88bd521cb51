"""The OpenAPI 3.1 document of the HTTP API, built from the table of operations in ``endpoints``.

``document()`` turns the table into the document served at /api/v1/openapi.json; the tests check every answer
of the real app against it (tests/openapi_validation.py).
"""


from __future__ import annotations

import copy
from functools import cache

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .. import __version__
from ..core import schemas
from ..core.processors import testcards
from . import api_models
from .endpoints import PAYMENT_ID, TEXT, Operation

# -- the document -------------------------------------------------------------------------------------------

ERRORS = {
    400: ("BadRequest", "The request is invalid: `field` names the problem (body, query or Idempotency-Key).",
          {"code": "BAD_REQUEST_ERROR", "description": "amount must be an integer", "field": "amount"}),
    401: ("Unauthorized", "Missing or wrong API key and secret.",
          {"code": "AUTHENTICATION_ERROR", "description": "invalid API key or secret"}),
    403: ("Forbidden", "A request other than GET under a dashboard session, without the session's X-CSRF-Token.",
          {"code": "CSRF_TOKEN_INVALID", "field": "X-CSRF-Token",
           "description": "this request needs the session's X-CSRF-Token header"}),
    404: ("NotFound", "No such object for this merchant (or, at checkout, for this key).",
          {"code": "NOT_FOUND_ERROR", "description": f"no payment '{PAYMENT_ID}'", "field": "id"}),
    409: ("IdempotencyInFlight", "A request with this Idempotency-Key is still running; retry after Retry-After.",
          {"code": "IDEMPOTENCY_ERROR", "field": "Idempotency-Key",
           "description": "a request with Idempotency-Key 'k1' is still being processed; retry shortly"}),
    413: ("PayloadTooLarge", "The body is larger than 1 MiB.",
          {"code": "PAYLOAD_TOO_LARGE", "description": "request body is larger than 1 MiB"}),
    415: ("UnsupportedMediaType", "A body sent without `Content-Type: application/json`.",
          {"code": "UNSUPPORTED_MEDIA_TYPE", "field": "Content-Type",
           "description": "Content-Type must be application/json"}),
    422: ("IdempotencyMismatch", "This Idempotency-Key was used for a different request.",
          {"code": "IDEMPOTENCY_ERROR", "field": "Idempotency-Key",
           "description": "Idempotency-Key 'k1' was used with a different request; use a new key for a new request"}),
    429: ("TooManyRequests", "Too many requests: at checkout from this address, on the merchant API by this merchant "
                             "(api.rate_limit, or its own); retry after Retry-After.",
          {"code": "RATE_LIMIT_ERROR", "description": "too many requests; the limit is 60 per 1 minute"}),
    500: ("ServerError", "An unexpected failure; quote the request_id to support.",
          {"code": "SERVER_ERROR", "description": "internal error; quote the request_id to support"}),
    503: ("ServiceUnavailable", "Postgres or Redis cannot be reached just now, or this server is answering as many "
                                "requests as it takes (server.max_in_flight); retry after Retry-After.",
          {"code": "SERVICE_UNAVAILABLE", "description": "the database is unavailable; retry shortly"}),
}
RETRY_AFTER = (409, 429, 503)
CORS_HEADER = {"Access-Control-Allow-Origin": {"$ref": "#/components/headers/AccessControlAllowOrigin"}}
RATE_LIMIT_HEADERS = {name: {"$ref": f"#/components/headers/{name.replace('-', '')}"}
                      for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")}

SECURITY = {
    "merchant": [{"ApiKey": [], "ApiSecret": []}, {"BasicAuth": []}, {"DashboardSession": []}],
    "public": [],
    "none": [],
}


def _schemas(operations: tuple[Operation, ...]) -> dict:
    models = {op.response for op in operations} | {api_models.Error}
    pairs = [(m, "serialization") for m in sorted(models, key=lambda m: m.__name__)]
    requests = {op.request for op in operations if op.request is not None}
    pairs += [(m, "validation") for m in sorted(requests, key=lambda m: m.__name__)]
    _, defs = models_json_schema(pairs, ref_template="#/components/schemas/{model}")
    return defs["$defs"]


def _ref(model: type[BaseModel]) -> dict:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _json(schema: dict, example: object) -> dict:
    return {"application/json": {"schema": schema, "example": example}}


def _headers(op: Operation, status: int) -> dict:
    headers = {"X-Request-Id": {"$ref": "#/components/headers/XRequestId"}}
    if op.auth == "public" and status != 500:
        headers.update(CORS_HEADER)
    if status in RETRY_AFTER:
        headers["Retry-After"] = {"$ref": "#/components/headers/RetryAfter"}
    if op.auth == "merchant" and (status < 300 or status == 429):
        headers.update(RATE_LIMIT_HEADERS)
    if op.idempotent and (status == op.status or (op.pending_example is not None and status == 202)):
        headers["Idempotent-Replayed"] = {"$ref": "#/components/headers/IdempotentReplayed"}
    return headers


def _responses(op: Operation) -> dict:
    success = {"description": op.response.__doc__.strip().splitlines()[0] if op.response.__doc__ else "OK",
               "headers": _headers(op, op.status), "content": _json(_ref(op.response), op.example_response)}
    responses = {str(op.status): success}
    if op.pending_example is not None:
        responses["202"] = {"description": "No answer from the processor in time: the operation is pending, and "
                                           "its outcome follows as an event",
                            "headers": _headers(op, 202), "content": _json(_ref(op.response), op.pending_example)}
    writes_by_session = {403} if op.auth == "merchant" and op.method != "GET" else set()
    json_body = {415} if op.request is not None else set()  # a body not sent as application/json
    dependencies = {503} if op.auth != "none" else set()  # Postgres or Redis away
    rate_limited = {429} if op.auth == "merchant" else set()  # the merchant's API rate limit
    for status in sorted({*op.errors, *writes_by_session, *json_body, *dependencies, *rate_limited, 500}):
        if status in ERRORS and op.response is not api_models.Readiness:
            name = ERRORS[status][0]
            if op.auth == "public" or status in RETRY_AFTER or op.idempotent:
                # the same error answer, with this operation's headers
                responses[str(status)] = {**_error_response(status), "headers": _headers(op, status)}
            else:
                responses[str(status)] = {"$ref": f"#/components/responses/{name}"}
        else:  # 503 from /readyz: the same shape as the 200
            example = {"status": "unavailable", "checks": {"postgres": {"ok": True},
                                                           "redis": {"ok": False, "reason": "unreachable"}}}
            responses[str(status)] = {"description": "Not ready", "headers": _headers(op, status),
                                      "content": _json(_ref(op.response), example)}
    return responses


def _error_response(status: int) -> dict:
    _, description, example = ERRORS[status]
    return {"description": description,
            "headers": {"X-Request-Id": {"$ref": "#/components/headers/XRequestId"}},
            "content": _json(_ref(api_models.Error), {"error": {**example, "request_id": "req_5f2c9a1e7b3d4c60"}})}


def _parameters(op: Operation) -> list[dict]:
    params: list[dict] = []
    if "{id}" in op.path:
        params.append({"name": "id", "in": "path", "required": True, "schema": TEXT,
                       "description": "the object's id; one that cannot be of this kind is simply not found"})
    for q in op.query:
        param = {"name": q.name, "in": "query", "required": q.required, "description": q.description,
                 "schema": q.schema}
        if q.example is not None:
            param["example"] = q.example
        params.append(param)
    if op.idempotent:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    return params


def _operation(op: Operation) -> dict:
    built: dict = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag],
                   "security": SECURITY[op.auth]}
    if op.description:
        built["description"] = op.description
    if params := _parameters(op):
        built["parameters"] = params
    if op.request is not None:
        built["requestBody"] = {"required": True, "content": _json(_ref(op.request), op.example_request)}
    built["responses"] = _responses(op)
    return built


def _components(operations: tuple[Operation, ...]) -> dict:
    return {
        "schemas": _schemas(operations),
        "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                       "description": "The merchant's API key; with X-Api-Secret."},
            "ApiSecret": {"type": "apiKey", "in": "header", "name": "X-Api-Secret",
                          "description": "The merchant's API secret; with X-Api-Key."},
            "BasicAuth": {"type": "http", "scheme": "basic", "description": "key:secret as HTTP Basic credentials"},
            "DashboardSession": {"type": "apiKey", "in": "cookie", "name": "paygate_session",
                                 "description": "The dashboard's session (sign in at /dashboard/); requests other "
                                                "than GET also send the session's X-CSRF-Token header."},
        },
        "parameters": {
            "IdempotencyKey": {
                "name": "Idempotency-Key", "in": "header", "required": False,
                "schema": {"type": "string", "pattern": "^[\\x20-\\x7e]{1,255}$"},
                "example": "order-1001-attempt-1",
                "description": "Makes the POST safe to retry for 24 h: a replay answers the first response byte "
                               "for byte (with Idempotent-Replayed: true); the same key for a different request "
                               "is 422, and while the first request is still running, 409.",
            },
        },
        "headers": {
            "XRequestId": {"required": True, "schema": {"type": "string"},
                           "description": "The request's id (the client's X-Request-Id, or a new one)."},
            "IdempotentReplayed": {"required": False, "schema": {"type": "string", "enum": ["true"]},
                                   "description": "Present on a replay of an earlier answer."},
            "RetryAfter": {"required": True, "schema": {"type": "string"}, "description": "Seconds to wait."},
            "AccessControlAllowOrigin": {"required": True, "schema": {"type": "string", "enum": ["*"]},
                                         "description": "Checkout endpoints are open to every origin."},
            # On answers to requests made with an API key while the merchant's rate limit is on (not the
            # dashboard's, and not while Redis cannot count them).
            "XRateLimitLimit": {"required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"},
                                "description": "Requests the merchant may make per window (its burst; a window "
                                               "lasts burst / rate seconds)."},
            "XRateLimitRemaining": {"required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"},
                                    "description": "Requests left in the current window."},
            "XRateLimitReset": {"required": False, "schema": {"type": "string", "pattern": "^[0-9]+$"},
                                "description": "When the window ends and the count starts afresh (unix seconds)."},
        },
        "responses": {ERRORS[status][0]: _error_response(status) for status in sorted(ERRORS)},
    }


# Leads into the Markdown table in info.description; info["x-test-instruments"] holds the same rows as data.
TEST_CARDS_NOTE = ("Test cards and UPI ids: with a test key these inputs decide the outcome (cards with any future "
                   "expiry and any 3-digit CVV); any other card number or UPI id is approved at the rate "
                   "`processor.success_rate`.")


def _build(operations: tuple[Operation, ...]) -> dict:
    paths: dict[str, dict] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "paygate",
            "version": __version__,
            "summary": "A self-hosted payment gateway: orders, card and UPI payments, refunds, signed webhooks.",
            "description": "Merchant endpoints take `X-Api-Key` + `X-Api-Secret` (or HTTP Basic key:secret, or the "
                           "dashboard's session cookie with X-CSRF-Token on writes). "
                           "Checkout endpoints take the public key alone, as `key`. Money is an integer in the "
                           "currency's minor unit; timestamps are ISO 8601 UTC. Every error is "
                           "`{\"error\": {\"code\", \"description\", \"field\"?, \"request_id\"}}` and every "
                           "answer carries X-Request-Id. A body is JSON sent with `Content-Type: application/json` "
                           "(else 415); bodies over 1 MiB get 413, and bodies that nest arrays and objects more "
                           f"than {schemas.MAX_DEPTH} deep or hold more than {schemas.MAX_CONTAINERS} of them, 400."
                           "\n\n" + TEST_CARDS_NOTE + "\n\n" + testcards.markdown(),
            "x-test-instruments": testcards.as_json(),
        },
        "servers": [{"url": "/"}],
        "security": SECURITY["merchant"],
        "tags": [{"name": name} for name in dict.fromkeys(op.tag for op in operations)],
        "paths": paths,
        "components": _components(operations),
    }


@cache
def _document(operations: tuple[Operation, ...]) -> dict:
    return _build(operations)


def document(operations: tuple[Operation, ...] | None = None) -> dict:
    """The OpenAPI 3.1 document of ``operations`` (every area's, by default), built once per set of operations;
    a copy."""
    return copy.deepcopy(_document(tuple(every_operation() if operations is None else operations)))


def every_operation() -> tuple[Operation, ...]:
    """The operations of every handler module, in document order (handlers.AREAS)."""
    from .handlers import AREAS  # here, not at the top: the docs handler imports this module

    return tuple(op for area in AREAS for op in getattr(area.routes, "operations", ()))
