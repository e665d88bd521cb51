"""Checking the real app's answers against its OpenAPI document: the suite's outermost middleware
(conftest.py) records every answer that disagrees with the document. openapi-core is a test dependency."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from aiohttp import web
from aiohttp.payload import BytesPayload

from paygate.http.endpoints import Operation
from paygate.http.openapi import document, every_operation


@cache
def _index() -> dict[tuple[str, str], Operation]:
    return {(op.method, op.path): op for op in every_operation()}


def documented(request: web.Request) -> Operation | None:
    """The operation of the route aiohttp matched for ``request``, if the document has it."""
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return _index().get((request.method, resource.canonical))


@dataclass
class _OperationRequest:
    """The request as openapi-core reads it, located by the route aiohttp matched rather than by parsing the
    path again (an id may hold an encoded '/', which would make the two disagree)."""

    method: str
    path: str
    parameters: object
    host_url: str = "http://paygate"
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class _Answer:
    """The response as openapi-core reads it."""

    data: bytes
    status_code: int
    content_type: str
    headers: object


@cache
def _openapi_core():
    from openapi_core import OpenAPI

    return OpenAPI.from_dict(document())


def _describe(error: Exception) -> str:
    details = getattr(error.__cause__, "schema_errors", None) or getattr(error, "schema_errors", None)
    if not details:
        return str(error)
    return f"{type(error).__name__}: " + "; ".join(
        f"{'/'.join(str(p) for p in e.absolute_path) or '(body)'}: {e.message}" for e in details)


async def _body_bytes(response: web.Response) -> bytes | None:
    body = response.body
    if body is None or isinstance(body, bytes | bytearray):
        return bytes(body or b"")
    if isinstance(body, BytesPayload):  # a str body (common.respond) is a StringPayload, in memory
        return await body.as_bytes()
    return None


async def response_violations(request: web.Request, response: web.StreamResponse) -> list[str]:
    """What is wrong with ``response`` as the answer to ``request``, by the document; [] when it agrees."""
    op = documented(request)
    if op is None:
        return []
    where = f"{request.method} {request.path_qs} ({op.operation_id}) answered {response.status}"
    data = await _body_bytes(response) if isinstance(response, web.Response) else None
    if data is None:
        return [f"{where} with a streamed body, not a JSON document"]
    from openapi_core.datatypes import RequestParameters

    located = _OperationRequest(op.method.lower(), op.path,
                                RequestParameters(query=request.query, header=request.headers))
    answer = _Answer(data, response.status, response.content_type or "", response.headers)
    errors = _openapi_core().iter_response_errors(located, answer)
    return [f"{where}: {_describe(e)}\n    body: {data[:400].decode(errors='replace')}" for e in errors]


def make_validating_middleware(violations: list[str]):
    """An aiohttp middleware that appends to ``violations`` every answer that disagrees with the document.

    Put it outermost (``app.middlewares.insert(0, ...)``) so that it sees the answers as clients do: error
    answers are shaped, and X-Request-Id added, by the middlewares inside it.
    """

    @web.middleware
    async def validate_response(request: web.Request, handler):
        response = await handler(request)
        violations.extend(await response_violations(request, response))
        return response

    return validate_response
