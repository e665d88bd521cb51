"""The OpenAPI document: complete, valid, served, and able to catch an answer that disagrees with it.

Every app built by the make_app fixture checks all its answers against the document (see
conftest.py); these tests pin the document itself.
"""

from __future__ import annotations

import json
import re

import pytest
from aiohttp import web
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec
from yarl import URL

from paygate.http import openapi
from paygate.http.app import create_app
from paygate.http.openapi import document, every_operation

from .openapi_validation import make_validating_middleware

API = "/api/v1"


def app_routes(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, canonical path) of every route the app serves, HEAD and OPTIONS aside."""
    return {(route.method, route.resource.canonical) for route in app.router.routes()
            if route.method not in ("HEAD", "OPTIONS") and route.resource is not None}


def documented_routes() -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document()["paths"].items() for method in item}


def test_every_api_route_is_documented_and_every_documented_route_exists(config):
    served = app_routes(create_app(config))
    api = {r for r in served if r[1].startswith(API + "/")}
    documented = documented_routes()
    undocumented = sorted(api - documented)
    missing = sorted(documented - served)
    assert not undocumented, f"routes missing from the OpenAPI document: {undocumented}"
    assert not missing, f"documented routes the app does not serve: {missing}"


async def test_an_endpoint_declared_once_is_served_and_documented(aiohttp_client, config):
    """One declaration (Endpoints.operation) adds the route and its operation, with its request and response
    schemas, to the document the app serves; the app's routes and its document still agree."""
    from pydantic import BaseModel, ConfigDict

    from paygate.http.app import add_endpoints
    from paygate.http.endpoints import Endpoints

    class EchoRequest(BaseModel):
        model_config = ConfigDict(extra="forbid")
        word: str

    class EchoAnswer(BaseModel):
        word: str
        length: int

    routes = Endpoints()

    @routes.operation("POST", f"{API}/echo", "echoWord", "Echo a word", "A throwaway endpoint.", "Echo", "none",
                      200, EchoAnswer, (400,), {"word": "paygate", "length": 7}, EchoRequest, {"word": "paygate"})
    async def echo(request: web.Request) -> web.Response:
        word = EchoRequest.model_validate_json(await request.read()).word
        return web.json_response({"word": word, "length": len(word)})

    app = create_app(config)
    add_endpoints(app, routes)
    client = await aiohttp_client(app)

    resp = await client.post(f"{API}/echo", json={"word": "refund"})
    assert resp.status == 200 and await resp.json() == {"word": "refund", "length": 6}
    doc = await (await client.get(f"{API}/openapi.json")).json()
    op = doc["paths"][f"{API}/echo"]["post"]
    assert op["operationId"] == "echoWord" and op["tags"] == ["Echo"]
    request_schema = op["requestBody"]["content"]["application/json"]["schema"]
    answer_schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert request_schema == {"$ref": "#/components/schemas/EchoRequest"}
    assert answer_schema == {"$ref": "#/components/schemas/EchoAnswer"}
    assert set(doc["components"]["schemas"]["EchoRequest"]["properties"]) == {"word"}
    assert set(doc["components"]["schemas"]["EchoAnswer"]["properties"]) == {"word", "length"}
    served = {r for r in app_routes(app) if r[1].startswith(API + "/")}
    assert served == {(m.upper(), path) for path, item in doc["paths"].items() for m in item
                      if path.startswith(API + "/")}
    assert f"{API}/echo" not in document()["paths"]  # the areas' own document is not touched


def test_the_document_is_valid_openapi_3_1():
    doc = document()
    assert doc["openapi"].startswith("3.1.")
    validate_spec(doc)  # raises OpenAPIValidationError naming the problem


def _examples():
    for path, item in document()["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                yield f"{method.upper()} {path} request", body
            for status, response in op["responses"].items():
                content = response.get("content", {}).get("application/json")
                if content:
                    yield f"{method.upper()} {path} {status}", content
    for name, response in document()["components"]["responses"].items():
        yield f"components/responses/{name}", response["content"]["application/json"]


@pytest.mark.parametrize("where, media", list(_examples()), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_matches_its_schema(where, media):
    assert "example" in media, f"{where} has no example"
    validator = OAS31Validator({**media["schema"], "components": document()["components"]},
                               format_checker=OAS31Validator.FORMAT_CHECKER)
    problems = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(media["example"])]
    assert not problems, f"{where}: {problems}"


@pytest.mark.parametrize("op", every_operation(), ids=lambda op: op.operation_id)
def test_every_operation_is_described_and_documents_its_errors(op):
    built = document()["paths"][op.path][op.method.lower()]
    responses = built["responses"]
    assert built["summary"] and built["operationId"] == op.operation_id
    assert "example" in responses[str(op.status)]["content"]["application/json"]
    if op.request is not None:
        assert "example" in built["requestBody"]["content"]["application/json"]
    if op.auth == "merchant":
        assert "401" in responses, "merchant auth can fail"
        assert built["security"] == [{"ApiKey": [], "ApiSecret": []}, {"BasicAuth": []}, {"DashboardSession": []}]
        if op.method != "GET":
            assert "403" in responses, "a session write without its CSRF token"
    else:
        assert "401" not in responses and built["security"] == []
    if "{id}" in op.path or op.auth == "public":
        assert "404" in responses, "an unknown id (or key) is not found"
    if op.method in ("POST", "PATCH"):
        assert {"400", "413"} <= set(responses), "a bad or oversized body"
    if op.request is not None:
        assert "415" in responses, "a body not sent as application/json"
    if op.idempotent:
        assert {"409", "422"} <= set(responses)
        assert {"$ref": "#/components/parameters/IdempotencyKey"} in built["parameters"]
        assert "Idempotent-Replayed" in responses[str(op.status)]["headers"]
    if op.auth == "public":
        assert "429" in responses, "checkout is rate limited"
        names = {p["name"] for p in built.get("parameters", []) if "name" in p}  # not the $ref of IdempotencyKey
        assert "key" in names or "key" in op.request.model_fields
    if any(q.name == "limit" for q in op.query):
        assert "400" in responses, "a list refuses an unknown or malformed query parameter"
    for status, response in responses.items():
        if status.startswith(("4", "5")) and "$ref" not in response and op.path != "/readyz":
            assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_request_bodies_are_the_schemas_that_parse_them():
    schemas = document()["components"]["schemas"]
    for op in every_operation():
        if op.request is not None:
            body = document()["paths"][op.path][op.method.lower()]["requestBody"]["content"]["application/json"]
            assert body["schema"] == {"$ref": f"#/components/schemas/{op.request.__name__}"}
            assert schemas[op.request.__name__]["additionalProperties"] is False


def test_list_operations_document_paging_and_their_filters():
    for op in every_operation():
        if op.response.__name__.endswith("List") and op.query:
            params = {p["name"]: p for p in document()["paths"][op.path]["get"]["parameters"] if "name" in p}
            assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}
            assert {"offset", "from", "to"} <= set(params)


async def test_the_document_is_served_without_auth(client):
    resp = await client.get(f"{API}/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert json.loads(await resp.read()) == document()
    assert resp.headers["X-Request-Id"]


def _corrupt(change):
    """An inner middleware that breaks the answer to GET /api/v1/merchant the way ``change`` says."""

    @web.middleware
    async def corrupt(request, handler):
        response = await handler(request)
        if request.path == f"{API}/merchant" and request.method == "GET":
            return change(response)
        return response

    return corrupt


def _json(response: web.Response) -> dict:
    body = response.body
    return json.loads(body if isinstance(body, bytes) else body.decode())


def _without_entity(response):
    body = _json(response)
    del body["entity"]
    return web.json_response(body, status=response.status)


@pytest.mark.parametrize("change, expected", [
    (lambda r: web.json_response({"error": "nope"}, status=418), r"answered 418: Unknown response http status"),
    (_without_entity, r"'entity' is a required property"),
    (lambda r: web.json_response({**_json(r), "extra": 1}), r"Additional properties .*'extra'"),
    (lambda r: web.Response(text="hello", content_type="text/plain"), r"text/plain"),
], ids=["undocumented-status", "missing-field", "undocumented-field", "not-json"])
async def test_the_validating_middleware_reports_an_answer_that_disagrees(aiohttp_client, config, merchant,
                                                                          change, expected):
    violations: list[str] = []
    app = create_app(config)
    app.middlewares.insert(0, make_validating_middleware(violations))
    app.middlewares.append(_corrupt(change))
    client = await aiohttp_client(app)
    await client.get(f"{API}/merchant", headers=merchant["headers"])
    await client.get(f"{API}/orders", headers=merchant["headers"])  # a good answer adds nothing
    assert len(violations) == 1, violations
    assert violations[0].startswith(f"GET {API}/merchant (getMerchant) answered")
    assert re.search(expected, violations[0]), violations[0]


async def test_error_answers_and_undocumented_routes_are_checked_as_served(aiohttp_client, config, merchant):
    violations: list[str] = []
    app = create_app(config)
    app.middlewares.insert(0, make_validating_middleware(violations))
    client = await aiohttp_client(app)
    assert (await client.get(f"{API}/payments/pay_nope")).status == 401
    assert (await client.get(f"{API}/payments/pay_nope", headers=merchant["headers"])).status == 404
    # an id holding an encoded '/': the operation is the route aiohttp matched, not a second guess from the path
    weird = await client.get(URL(f"{API}/orders/order_a%2Fpayments", encoded=True), headers=merchant["headers"])
    assert weird.status == 404
    assert (await client.get(f"{API}/nowhere")).status == 404  # no route: nothing to check against
    assert (await client.delete(f"{API}/orders")).status == 405
    assert violations == []


def test_the_document_is_built_once():
    every = openapi.every_operation()
    assert openapi._document(every) is openapi._document(openapi.every_operation())
    assert document() == document() and document() is not document()  # callers get their own copy
