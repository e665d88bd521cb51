"""Idempotency-Key: one object per key under concurrency, byte-for-byte replay, conflicts refused."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from paygate.core.idempotency import request_hash

from .api import card, create_order, eventually, get
from .conftest import paygate_env


def _payment_body(order_id: str) -> dict:
    return {"order_id": order_id, "method": "card", "card": card("4111111111111111")}


async def _post(client, path: str, body, headers: dict, key: str | None):
    headers = {**headers, **({"Idempotency-Key": key} if key is not None else {})}
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    resp = await client.post(path, data=data, headers={**headers, "Content-Type": "application/json"})
    return resp.status, await resp.read(), resp.headers


async def _count(pool, table: str) -> int:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"SELECT count(*) FROM {table}")
        return (await cur.fetchone())[0]


async def test_fifty_concurrent_creates_with_one_key_make_one_payment_and_one_job(client, merchant, pool):
    headers = merchant["headers"]
    order = await create_order(client, headers)
    body = _payment_body(order["id"])

    results = await asyncio.gather(*(_post(client, "/api/v1/payments", body, headers, "pay-once")
                                     for _ in range(50)))

    assert await _count(pool, "payments") == 1
    status = await eventually(lambda: get(client, headers, "/api/v1/test/jobs/status"), lambda s: s["pending"] > 0)
    assert status["pending"] == 1
    successes = {raw for code, raw, _ in results if code == 201}
    assert len(successes) == 1  # every 2xx answer is the same bytes
    others = [(code, json.loads(raw)) for code, raw, _ in results if code != 201]
    assert all(code == 409 and body["error"]["code"] == "IDEMPOTENCY_ERROR" for code, body in others)


async def test_replay_returns_the_first_response_byte_for_byte(client, merchant, pool):
    headers = merchant["headers"]
    order = await create_order(client, headers)
    first = await _post(client, "/api/v1/payments", _payment_body(order["id"]), headers, "k1")
    # The same JSON with other spacing and key order is the same request.
    reordered = json.dumps(dict(reversed(list(_payment_body(order["id"]).items()))), indent=2)
    second = await _post(client, "/api/v1/payments", reordered, headers, "k1")

    assert first[0] == second[0] == 201
    assert first[1] == second[1]
    assert second[2]["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first[2]
    assert await _count(pool, "payments") == 1


@pytest.mark.parametrize("path_of_second", ["same", "other"])
async def test_a_key_reused_for_another_request_is_a_422(client, merchant, path_of_second):
    headers = merchant["headers"]
    status, _, _ = await _post(client, "/api/v1/orders", {"amount": 100, "currency": "INR"}, headers, "k2")
    assert status == 201
    if path_of_second == "same":
        status, raw, _ = await _post(client, "/api/v1/orders", {"amount": 101, "currency": "INR"}, headers, "k2")
    else:
        order = await create_order(client, headers)
        status, raw, _ = await _post(client, "/api/v1/payments", _payment_body(order["id"]), headers, "k2")
    assert status == 422
    error = json.loads(raw)["error"]
    assert (error["code"], error["field"]) == ("IDEMPOTENCY_ERROR", "Idempotency-Key")


async def test_a_key_still_in_flight_is_a_retryable_409(client, merchant, pool):
    headers = merchant["headers"]
    body = {"amount": 100, "currency": "INR"}
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            """INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash,
                                             claim_token, expires_at)
               VALUES (%s, 'busy', 'POST', '/api/v1/orders', %s, 'someone-else', now() + interval '1 hour')""",
            (merchant["merchant_id"], request_hash("POST", "/api/v1/orders", json.dumps(body).encode())))

    status, raw, resp_headers = await _post(client, "/api/v1/orders", body, headers, "busy")

    assert status == 409
    assert json.loads(raw)["error"]["code"] == "IDEMPOTENCY_ERROR"
    assert resp_headers["Retry-After"] == "1"
    assert await _count(pool, "orders") == 0


async def test_an_in_flight_claim_past_its_lease_is_taken_over(client, merchant, pool):
    headers = merchant["headers"]
    body = {"amount": 100, "currency": "INR"}
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            """INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash,
                                             claim_token, created_at, expires_at)
               VALUES (%s, 'crashed', 'POST', '/api/v1/orders', %s, 'dead-request', now() - interval '10 minutes',
                       now() + interval '1 hour')""",
            (merchant["merchant_id"], request_hash("POST", "/api/v1/orders", json.dumps(body).encode())))
    status, _, _ = await _post(client, "/api/v1/orders", body, headers, "crashed")
    assert status == 201


async def test_a_request_refused_by_validation_leaves_the_key_free(client, merchant, pool):
    headers = merchant["headers"]
    status, _, _ = await _post(client, "/api/v1/orders", {"amount": "100", "currency": "INR"}, headers, "k3")
    assert status == 400
    status, _, _ = await _post(client, "/api/v1/orders", {"amount": 0, "currency": "INR"}, headers, "k3")
    assert status == 400
    status, _, _ = await _post(client, "/api/v1/orders", {"amount": 100, "currency": "INR"}, headers, "k3")
    assert status == 201
    assert await _count(pool, "orders") == 1


async def test_a_request_that_fails_after_claiming_leaves_the_key_free(client, merchant):
    headers = merchant["headers"]
    status, _, _ = await _post(client, "/api/v1/payments", _payment_body("order_doesnotexist000"), headers, "k4")
    assert status == 404
    order = await create_order(client, headers)
    # A different body under the same key is accepted: nothing was recorded for the failed request.
    status, _, _ = await _post(client, "/api/v1/payments", _payment_body(order["id"]), headers, "k4")
    assert status == 201


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_malformed_keys_are_refused(client, merchant, key):
    status, raw, _ = await _post(client, "/api/v1/orders", {"amount": 100, "currency": "INR"},
                                 merchant["headers"], key)
    assert status == 400
    assert json.loads(raw)["error"]["field"] == "Idempotency-Key"


async def test_keys_are_scoped_to_the_merchant(client, merchant, other_merchant, pool):
    body = {"amount": 100, "currency": "INR"}
    first = await _post(client, "/api/v1/orders", body, merchant["headers"], "shared")
    second = await _post(client, "/api/v1/orders", body, other_merchant["headers"], "shared")
    assert first[0] == second[0] == 201
    assert json.loads(first[1])["id"] != json.loads(second[1])["id"]
    assert await _count(pool, "orders") == 2


async def test_a_key_past_its_ttl_makes_a_new_object_and_is_purged(aiohttp_client, make_app, merchant, pool):
    from paygate.http import appkeys

    client = await aiohttp_client(make_app(workers=True, idempotency__ttl=1, scheduler__interval=3600))
    body = {"amount": 100, "currency": "INR"}
    first = await _post(client, "/api/v1/orders", body, merchant["headers"], "short-lived")
    await asyncio.sleep(1.2)
    second = await _post(client, "/api/v1/orders", body, merchant["headers"], "short-lived")
    assert first[0] == second[0] == 201
    assert json.loads(first[1])["id"] != json.loads(second[1])["id"]
    assert "Idempotent-Replayed" not in second[2]

    await asyncio.sleep(1.2)
    result = await client.app[appkeys.WORKERS].run_scheduler_once()
    assert result["purged_keys"] == 1
    assert await _count(pool, "idempotency_keys") == 0


async def test_a_completed_key_replays_after_a_server_restart(clean_state, merchant, paygate_process):
    env = paygate_env(*clean_state)
    body = json.dumps({"amount": 4200, "currency": "INR", "receipt": "restart"})
    headers = {**merchant["headers"], "Idempotency-Key": "survives", "Content-Type": "application/json"}

    async def post(server):
        async with aiohttp.ClientSession() as session, \
                session.post(f"{server.base_url}/api/v1/orders", data=body, headers=headers) as resp:
            return resp.status, await resp.read(), resp.headers.get("Idempotent-Replayed")

    first_server = await paygate_process("serve", "--no-worker", env=env).ready()
    first = await post(first_server)
    first_server.stop()
    second_server = await paygate_process("serve", "--no-worker", env=env).ready()
    second = await post(second_server)

    assert first[:2] == second[:2]
    assert first[0] == 201
    assert second[2] == "true"
