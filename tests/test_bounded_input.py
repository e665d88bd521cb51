"""Input is bounded before it costs: nesting, timestamps' UTC offsets and order notes are refused with 400 naming
what broke the rule, never a 500, and a refused request is one log line, not a traceback."""

from __future__ import annotations

import json
import logging

import pytest
from pytest import param
from yarl import URL

from paygate.core.schemas import MAX_CONTAINERS, MAX_DEPTH
from paygate.http.openapi import every_operation

API = "/api/v1"
BAD = "BAD_REQUEST_ERROR"
SIGN_IN = "/dashboard/api/session"  # the dashboard's own JSON route, outside the API document
PAYMENT_ID = "pay_Zz9qZz9qZz9qZz9q"  # bodies are read before the object is looked up


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """A JSON object whose first field holds ``depth`` - 1 arrays inside one another."""
    return b'{"amount": ' + b"[" * (depth - 1) + inner + b"]" * (depth - 1) + b"}"


def json_routes() -> list:
    """(method, path, auth) of every route that takes a JSON body: the documented ones, and the dashboard sign-in."""
    routes = [param("POST", SIGN_IN, "public", id="signIn")]
    for op in every_operation():
        if op.request is not None:
            routes.append(param(op.method, op.path.replace("{id}", PAYMENT_ID), op.auth, id=op.operation_id))
    return routes


def list_routes() -> list:
    return [param(op.path, id=op.operation_id) for op in every_operation()
            if op.method == "GET" and {q.name for q in op.query} >= {"from", "to"}]


async def send(client, method: str, path: str, body: bytes, headers: dict):
    return await client.request(method, path, data=body, headers={**headers, "Content-Type": "application/json"})


async def error_of(resp, status: int, field: str | None = None) -> dict:
    payload = await resp.json()
    assert resp.status == status, payload
    error = payload["error"]
    assert error.get("field") == field, error
    return error


def test_every_route_that_parses_a_body_is_in_the_table():
    assert len(json_routes()) == 1 + sum(op.request is not None for op in every_operation())
    assert {"/api/v1/checkout/payments", "/api/v1/orders", "/api/v1/webhooks/recover"} <= {
        case.values[1] for case in json_routes()}


# ---------------------------------------------------------------- nesting

@pytest.mark.parametrize(("method", "path", "auth"), json_routes())
async def test_json_nested_ten_thousand_deep_is_refused_with_400_on_every_json_route(
        client, merchant, method, path, auth):
    for credentials in (merchant["headers"], {}):
        resp = await send(client, method, path, nested(10_000), credentials)
        if auth == "merchant" and not credentials:
            await error_of(resp, 401)  # a stranger's body is not even read
            continue
        error = await error_of(resp, 400)
        assert error["code"] == BAD
        assert error["description"] == f"request body nests arrays and objects more than {MAX_DEPTH} deep"


@pytest.mark.parametrize(("body", "description"), [
    param(nested(MAX_DEPTH + 1), f"more than {MAX_DEPTH} deep", id="one-level-too-deep"),
    param(b'{"notes": ' + b'{"a": ' * MAX_DEPTH + b"1" + b"}" * MAX_DEPTH + b"}", f"more than {MAX_DEPTH} deep",
          id="objects-too-deep"),
    param(b'{"notes": [' + b",".join([b"[[1]]"] * (MAX_CONTAINERS // 2)) + b"]}",
          f"more than {MAX_CONTAINERS} arrays and objects", id="too-many-arrays"),
    param(b"[" * 100_000, "must be valid JSON", id="never-closed"),
    param(b'{"amount": ' + b"]" * 70 + b"[" * 70 + b"}", "must be valid JSON", id="closed-before-opened"),
])
async def test_deep_or_many_arrays_and_objects_are_refused_naming_the_body(client, merchant, body, description):
    resp = await send(client, "POST", f"{API}/orders", body, merchant["headers"])
    error = await error_of(resp, 400)
    assert error["description"].startswith("request body ") and description in error["description"], error


@pytest.mark.parametrize("body", [
    param(nested(MAX_DEPTH), id="exactly-the-limit-deep"),
    param(json.dumps({"amount": 5, "currency": "INR", "receipt": "[" * 40,
                      "notes": {"a": "[{" * 200, "b": '\\"[[' * 100}}).encode(), id="brackets-in-strings"),
])
async def test_brackets_within_the_limits_or_inside_strings_are_parsed_as_usual(client, merchant, body):
    resp = await send(client, "POST", f"{API}/orders", body, merchant["headers"])
    if b"receipt" in body:
        payload = await resp.json()
        assert resp.status == 201, payload
        assert payload["notes"]["b"] == '\\"[[' * 100
    else:  # parsed: refused for what it says, not for its depth
        error = await error_of(resp, 400, "amount")
        assert "deep" not in error["description"]


async def test_a_deep_body_on_a_route_that_takes_none_is_not_a_server_error(client, merchant):
    for path in (f"{API}/webhooks/test", f"{API}/merchant/webhook-secret/rotate"):
        resp = await send(client, "POST", path, nested(10_000), {**merchant["headers"], "Idempotency-Key": path})
        assert resp.status < 500, await resp.text()


# ---------------------------------------------------------------- timestamps

@pytest.mark.parametrize("path", list_routes())
@pytest.mark.parametrize("name", ["from", "to"])
async def test_a_utc_offset_beyond_postgres_range_is_refused_naming_the_filter_on_every_list(
        client, merchant, path, name):
    url = URL(path).with_query({name: "2020-01-01T00:00:00+23:59"})
    resp = await client.get(url, headers=merchant["headers"])
    error = await error_of(resp, 400, name)
    assert "offset" in error["description"]


def test_every_list_route_takes_from_and_to():
    assert len(list_routes()) == 6


@pytest.mark.parametrize(("value", "status"), [
    param("2020-01-01T00:00:00+15:59", 200, id="plus-15-59"),
    param("2020-01-01T00:00:00-15:59", 200, id="minus-15-59"),
    param("2020-01-01T00:00:00+05:30", 200, id="india"),
    param("2020-01-01T00:00:00-16:00", 400, id="minus-16"),
    param("2020-01-01T00:00:00+23:59", 400, id="plus-23-59"),
    param("0001-01-01T00:00:00+01:00", 400, id="before-year-1-in-utc"),
    param("99999999999999999", 400, id="unix-seconds-past-year-9999"),
])
async def test_list_filters_take_offsets_postgres_takes_and_no_other(client, merchant, value, status):
    resp = await client.get(URL(f"{API}/payments").with_query({"from": value}), headers=merchant["headers"])
    if status == 200:
        assert resp.status == 200, await resp.text()
    else:
        await error_of(resp, 400, "from")


async def test_an_offset_filter_means_the_same_instant_in_utc(client, merchant):
    resp = await send(client, "POST", f"{API}/orders", b'{"amount": 500, "currency": "INR"}', merchant["headers"])
    created = (await resp.json())["created_at"]
    long_ago = URL(f"{API}/orders").with_query({"to": "1970-01-01T00:00:00Z"})
    assert (await (await client.get(long_ago, headers=merchant["headers"])).json())["total"] == 0
    far_east = URL(f"{API}/orders").with_query({"from": "2000-01-01T15:59:00+15:59"})  # = 2000-01-01T00:00Z
    found = await (await client.get(far_east, headers=merchant["headers"])).json()
    assert [o["created_at"] for o in found["data"]] == [created]


@pytest.mark.parametrize("field", ["since", "until"])
async def test_recover_refuses_an_out_of_range_offset_naming_its_field(client, merchant, field):
    body = {"since": "2020-01-01T00:00:00Z", field: "2020-01-01T00:00:00+23:59"}
    resp = await send(client, "POST", f"{API}/webhooks/recover", json.dumps(body).encode(), merchant["headers"])
    error = await error_of(resp, 400, field)
    assert "offset" in error["description"]


async def test_recover_takes_an_offset_within_range(client, merchant):
    body = json.dumps({"since": "2020-01-01T00:00:00+15:59", "until": "2020-01-02T00:00:00-15:59"}).encode()
    resp = await send(client, "POST", f"{API}/webhooks/recover", body, merchant["headers"])
    assert (resp.status, await resp.json()) == (200, {"requeued": 0})


# ---------------------------------------------------------------- order notes

NOTES_REFUSED = [
    param({"memo": "x" * 1_000_000}, "notes.memo", "at most 500 characters", id="a-1-MB-note"),
    param({"memo": "x" * 501}, "notes.memo", "at most 500 characters", id="a-501-character-value"),
    param({"k" * 41: "x"}, "notes", "keys must be at most 40 characters", id="a-41-character-key"),
    param({"k" * 100_000: "x" * 100_000}, "notes", "keys must be at most 40 characters", id="long-key-and-value"),
    param({f"k{i}": i for i in range(21)}, "notes", "at most 15 entries", id="21-keys"),
    param({f"k{i}": i for i in range(16)}, "notes", "at most 15 entries", id="16-keys"),
]


@pytest.mark.parametrize(("notes", "field", "rule"), NOTES_REFUSED)
async def test_notes_beyond_their_limits_are_refused_naming_the_field(client, merchant, notes, field, rule):
    body = json.dumps({"amount": 500, "currency": "INR", "notes": notes}).encode()
    resp = await send(client, "POST", f"{API}/orders", body, merchant["headers"])
    error = await error_of(resp, 400, field)
    assert rule in error["description"]
    assert len(await resp.read()) < 1000, "the refusal does not echo the note back"


async def test_notes_at_their_limits_are_kept_as_given(client, merchant):
    notes = {f"{i:02d}" + "k" * 38: "v" * 500 for i in range(15)}
    body = json.dumps({"amount": 500, "currency": "INR", "notes": notes}).encode()
    resp = await send(client, "POST", f"{API}/orders", body, merchant["headers"])
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["notes"] == notes


# ---------------------------------------------------------------- what a refused request logs

MALFORMED = [
    param(b'{"amount": ', id="not-json"),
    param(nested(10_000), id="too-deep"),
    param(b'{"amount": "5", "currency": "INR"}', id="wrong-type"),
    param(b"[1, 2]", id="not-an-object"),
    param(b'{"amount": 5, "currency": "INR", "notes": {"a": "' + b"x" * 1_000_000 + b'"}}', id="note-too-long"),
]


@pytest.mark.parametrize("body", MALFORMED)
async def test_a_malformed_request_is_one_info_line_without_traceback(client, merchant, caplog, body):
    caplog.set_level(logging.DEBUG)
    resp = await send(client, "POST", f"{API}/orders", body, merchant["headers"])
    assert resp.status == 400
    request_id = resp.headers["X-Request-Id"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], caplog.text
    lines = [r for r in caplog.records if getattr(r, "request_id", None) == request_id]
    assert [(r.name, r.levelno, r.status, r.error) for r in lines] == [("paygate.access", logging.INFO, 400, BAD)]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16", "utf-32"])
async def test_a_body_in_another_unicode_encoding_is_refused_before_it_is_parsed(client, encoding):
    """json.loads takes UTF-16 and UTF-32 too, where a 0x22 byte need not be a quote ("Ģ" is 22 01 in UTF-16-LE):
    such a body could hide its depth from the nesting check. JSON on the wire is UTF-8 (RFC 8259)."""
    deep = "[" * 5000 + "]" * 5000
    body = f'{{"a": "Ģ", "b": {deep}, "c": "Ģ"}}'.encode(encoding)
    resp = await client.post("/api/v1/checkout/payments", data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 400, await resp.text()  # not UTF-8, or (UTF-16-LE of ASCII is) not JSON in UTF-8
