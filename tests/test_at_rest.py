"""Nothing recoverable at rest: a dump of the database, Redis and every log line give away no card data or secret."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
import secrets
import shutil
import subprocess
import warnings
from pathlib import Path

import psycopg2
import pytest
import redis as sync_redis

from paygate.core import idempotency
from paygate.core.cards import luhn_valid
from paygate.core.operations.merchants import create_merchant
from paygate.infra import crypto
from paygate.infra.resources import sql_dir
from paygate.storage import migrations
from paygate.storage.db import create_pool

from .api import create_order, wait_final
from .conftest import MASTER_KEY, build_config, paygate_env, run_paygate

PAYMENTS = "/api/v1/payments"
ROTATE = "/api/v1/merchant/webhook-secret/rotate"
JSON_HEADERS = {"Content-Type": "application/json"}


def _random_visa() -> str:
    """A Luhn-valid Visa number made up for this run, so that it can be nowhere unless this run put it there."""
    body = "4" + "".join(secrets.choice("0123456789") for _ in range(14))
    return body + next(d for d in "0123456789" if luhn_valid(body + d))


def _card_body(order_id: str, number: str, cvv: str) -> dict:
    return {"order_id": order_id, "method": "card",
            "card": {"number": number, "expiry_month": 12, "expiry_year": 2035, "cvv": cvv, "name": "Test Shopper"}}


async def _post(client, path: str, body: dict | None, headers: dict, key: str):
    data = json.dumps(body) if body is not None else None
    resp = await client.post(path, data=data, headers={**headers, **JSON_HEADERS, "Idempotency-Key": key})
    return resp.status, await resp.read(), resp.headers


# -- what an attacker holding the dump would try ------------------------------------------------------------

def _unkeyed_cvv_search(stored: set[str], body: dict) -> str | None:
    """The CVV that the pre-v1 scheme (paygate's own canonicalization, no key) finds among the stored hashes,
    trying every 3- or 4-digit code; ``idempotency.request_hash`` is that scheme, kept for the upgrade."""
    width = len(body["card"]["cvv"])
    for guess in range(10 ** width):
        cvv = f"{guess:0{width}d}"
        raw = json.dumps({**body, "card": {**body["card"], "cvv": cvv}}).encode()
        canonical = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")).encode()
        for candidate in (idempotency.request_hash("POST", PAYMENTS, raw), hashlib.sha256(canonical).hexdigest()):
            if candidate in stored:
                return cvv
    return None


def _unkeyed_digests(material: str) -> list[str]:
    """MD5, SHA-1, SHA-256 and SHA-512 of ``material``: their hex and base64 forms, cut to 16 characters so that
    a truncated copy (as fingerprints often are) is found too."""
    found = []
    for name in ("md5", "sha1", "sha256", "sha512"):
        digest = hashlib.new(name, material.encode()).digest()
        found += [digest.hex()[:16], base64.b64encode(digest).decode()[:16],
                  base64.urlsafe_b64encode(digest).decode()[:16]]
    return found


def _card_findings(corpus: str, number: str, cvvs: list[str]) -> list[str]:
    lowered, findings = corpus.lower(), []
    spaced = " ".join(number[i:i + 4] for i in range(0, len(number), 4))
    for form in (number, spaced, spaced.replace(" ", "-"), number.encode().hex()):
        if form in lowered:
            findings.append(f"card number {number[:6]}… as {form[:12]}…")
    materials = [number] + [m for cvv in cvvs for sep in ("", " ", "|", ":", ",", ";", "-", "\n")
                            for m in (number + sep + cvv, cvv + sep + number)]
    for material in materials:
        for digest in _unkeyed_digests(material):
            if (digest in lowered) if _is_hex(digest) else (digest in corpus):
                findings.append(f"an unkeyed hash of {material!r} ({digest})")
    for cvv in cvvs:
        # A CVV on its own: a whole field, a JSON string, or a token not part of a longer number, id or time.
        if re.search(rf'(?<![0-9A-Za-z.:_-]){cvv}(?![0-9A-Za-z.])', corpus) or f'"{cvv}"' in corpus:
            findings.append(f"CVV {cvv} as a value")
    return findings


def _is_hex(text: str) -> bool:
    return re.fullmatch(r"[0-9a-f]+", text) is not None


def _secret_findings(corpus: str, name: str, secret: str) -> list[str]:
    lowered, findings = corpus.lower(), []
    payload = secret.split("_", 1)[1]  # whsec_<base64> or secret_<urlsafe base64>
    forms = [secret, payload, secret.encode().hex()]
    if secret.startswith("whsec_"):
        raw = base64.b64decode(payload)
        forms += [raw.hex(), base64.urlsafe_b64encode(raw).decode()]
    for form in forms:
        if (form.lower() in lowered) if _is_hex(form) else (form in corpus):
            findings.append(f"{name} as {form[:10]}…")
    return findings


# -- where it could be --------------------------------------------------------------------------------------

def _pg_dump_binary() -> str:
    """pg_dump of the embedded server's own version (pgserver ships it beside postgres), else the one on PATH."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        try:
            import pgserver
        except ImportError:
            pgserver = None
    if pgserver is not None:
        shipped = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pg_dump"
        if shipped.exists():
            return str(shipped)
    found = shutil.which("pg_dump")
    assert found, "no pg_dump: install pgserver (extra 'embedded') or PostgreSQL's client tools"
    return found


def _pg_dump(db_url: str) -> str:
    result = subprocess.run([_pg_dump_binary(), "--dbname", db_url, "--no-owner", "--no-privileges"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _bytea_values(dump: str) -> str:
    """bytea columns (responses kept for replay) appear in a dump as hex: their decoded text, to search too."""
    return "\n".join(bytes.fromhex(h).decode("utf-8", "replace") for h in re.findall(r"\\\\x([0-9a-f]+)", dump))


def _redis_contents(url: str) -> str:
    client = sync_redis.Redis.from_url(url)
    readers = {"string": client.get, "hash": client.hgetall, "list": lambda k: client.lrange(k, 0, -1),
               "set": client.smembers, "zset": lambda k: client.zrange(k, 0, -1), "stream": client.xrange}
    try:
        return "\n".join(f"{key!r} {readers.get(client.type(key).decode(), lambda k: None)(key)!r}"
                         for key in client.scan_iter(count=1000))
    finally:
        client.close()


# Attributes every record has (line numbers, pids, times): not what a log call wrote, and they would pass
# for CVVs.
_RECORD_ATTRIBUTES = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def _log_text(records: list[logging.LogRecord]) -> str:
    """Every captured record: its message and extra fields, unmasked (stricter than a formatter, which masks
    card numbers as a last line of defence), and its traceback."""
    formatter = logging.Formatter()
    lines = []
    for record in records:
        extra = {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES}
        lines.append(f"{record.name} {record.getMessage()} {json.dumps(extra, default=str)}")
        if record.exc_info:
            lines.append(formatter.formatException(record.exc_info))
    return "\n".join(lines)


def _cli(*args: str, env: dict) -> tuple[dict, str]:
    """``paygate ARGS --json``: its answer (the last line), and its log output (everything else)."""
    result = run_paygate(*args, "--json", env=env)
    assert result.returncode == 0, result.stderr
    *logged, answer = result.stdout.splitlines()
    return json.loads(answer), "\n".join([*logged, result.stderr])


# -- the Done-when test -------------------------------------------------------------------------------------

async def test_a_dump_of_everything_stored_and_logged_gives_away_no_card_data_or_secret(
        hooks_client, merchant, receiver, clean_state, caplog):
    caplog.set_level(logging.DEBUG)
    db_url, redis_url = clean_state
    client, headers = hooks_client, merchant["headers"]
    resp = await client.patch("/api/v1/merchant", json={"webhook_url": receiver.url}, headers=headers)
    assert resp.status == 200, await resp.text()

    cards = [("4111111111111111", "737"), ("4000000000000002", "846"), ("378282246310005", "6281"),
             (_random_visa(), "086")]  # a leading zero: no byte count or duration in a log line reads like it
    bodies, payment_ids = [], []
    for n, (number, cvv) in enumerate(cards):
        order = await create_order(client, headers, amount=10_000 + n)
        body = _card_body(order["id"], number, cvv)
        first = await _post(client, PAYMENTS, body, headers, f"pay-{n}")
        again = await _post(client, PAYMENTS, body, headers, f"pay-{n}")
        assert first[0] == again[0] == 201 and first[1] == again[1], first[1]
        assert again[2]["Idempotent-Replayed"] == "true"
        bodies.append(body)
        payment_ids.append(json.loads(first[1])["id"])
    other_cvv = "582"  # the same key with only the CVV changed is another request
    refused = await _post(client, PAYMENTS, _card_body(bodies[0]["order_id"], cards[0][0], other_cvv), headers,
                          "pay-0")
    assert refused[0] == 422, refused[1]

    rotated = await _post(client, ROTATE, None, headers, "rotate-1")
    replayed = await _post(client, ROTATE, None, headers, "rotate-1")
    assert rotated[0] == replayed[0] == 200 and rotated[1] == replayed[1]
    webhook_secret = json.loads(replayed[1])["webhook_secret"]
    assert webhook_secret.startswith("whsec_") and webhook_secret != merchant["webhook_secret"]

    for payment_id in payment_ids:
        await wait_final(client, headers, payment_id)
    await receiver.wait_for(len(cards))  # deliveries signed with the new secret, attempts recorded

    # The dashboard's API-secret rotation (last: the merchant's old secret stops working), and the CLI's.
    resp = await client.post("/dashboard/api/session", json={"api_key": merchant["api_key"],
                                                            "api_secret": merchant["api_secret"]})
    assert resp.status == 200, await resp.text()
    csrf = (await resp.json())["csrf_token"]
    resp = await client.post("/dashboard/api/api-secret/rotate", headers={"X-CSRF-Token": csrf})
    assert resp.status == 200, await resp.text()
    dashboard_secret = (await resp.json())["api_secret"]
    env = paygate_env(db_url, redis_url, PAYGATE_LOGGING__LEVEL="debug")
    cli_merchant, create_log = await asyncio.to_thread(_cli, "merchants", "create", "--name", "CLI Shop",
                                                       "--email", "cli@example.com", env=env)
    cli_rotated, rotate_log = await asyncio.to_thread(_cli, "merchants", "rotate-secret",
                                                      cli_merchant["merchant_id"], env=env)
    assert "DEBUG" in create_log  # the CLI's own log output is part of what is searched

    dump = await asyncio.to_thread(_pg_dump, db_url)
    logs = "\n".join([_log_text(caplog.records), create_log, rotate_log])
    corpus = "\n".join([dump, _bytea_values(dump), _redis_contents(redis_url), logs])

    # The search is over real data: every payment and the replayable responses are in the dump, decoded,
    # and the run's log lines were captured.
    assert all(payment_id in _bytea_values(dump) for payment_id in payment_ids)
    assert "COPY public.idempotency_keys" in dump and "COPY public.webhook_attempts" in dump
    assert any(r.name == "paygate.access" for r in caplog.records)
    conn = psycopg2.connect(db_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT request_hash FROM idempotency_keys WHERE request_path = %s", (PAYMENTS,))
            stored = {row[0] for row in cur.fetchall()}
    finally:
        conn.close()
    assert len(stored) == len(cards)
    # ...and the search finds what it looks for: an unkeyed hash gives its CVV away.
    assert _unkeyed_cvv_search({idempotency.request_hash("POST", PAYMENTS, json.dumps(bodies[2]).encode())},
                               bodies[2]) == cards[2][1]

    findings = []
    for body in bodies:
        if cvv := _unkeyed_cvv_search(stored, body):
            findings.append(f"a stored request hash gives away CVV {cvv} (recomputed without a key)")
    for number, cvv in cards:
        findings += _card_findings(corpus, number, [cvv, other_cvv] if number == cards[0][0] else [cvv])
    if re.search(r'["\']cvv["\']', corpus, re.IGNORECASE):
        findings.append("a cvv field")
    secrets_shown = {"the rotated webhook secret": webhook_secret,
                     "the seed's webhook secret": merchant["webhook_secret"],
                     "the seed's API secret": merchant["api_secret"],
                     "the dashboard's new API secret": dashboard_secret,
                     "a CLI merchant's API secret": cli_merchant["api_secret"],
                     "a CLI merchant's webhook secret": cli_merchant["webhook_secret"],
                     "a CLI-rotated API secret": cli_rotated["api_secret"]}
    for name, secret in secrets_shown.items():
        findings += _secret_findings(corpus, name, secret)
    for form in (MASTER_KEY, base64.b64decode(MASTER_KEY).hex()):
        if form in corpus or form in corpus.lower():
            findings.append("the master key")
    assert not findings, "recoverable at rest:\n" + "\n".join(findings)


# -- the request hash ---------------------------------------------------------------------------------------

async def test_the_same_card_replays_and_only_a_different_cvv_is_another_request(client, merchant, pool):
    headers = merchant["headers"]
    order = await create_order(client, headers)
    body = _card_body(order["id"], "4111111111111111", "737")
    first = await _post(client, PAYMENTS, body, headers, "card-key")
    # The same card with its fields in another order is the same request.
    reordered = {**body, "card": dict(reversed(list(body["card"].items())))}
    same = await _post(client, PAYMENTS, reordered, headers, "card-key")
    assert first[0] == same[0] == 201 and first[1] == same[1]

    for changed in ({"cvv": "738"}, {"number": "4242424242424242"}, {"expiry_month": 11}):
        status, raw, _ = await _post(client, PAYMENTS, {**body, "card": {**body["card"], **changed}}, headers,
                                     "card-key")
        assert status == 422, (changed, raw)
        assert json.loads(raw)["error"]["field"] == "Idempotency-Key"

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT request_hash FROM idempotency_keys WHERE key = 'card-key'")
        (stored,) = await cur.fetchone()
    box, raw = crypto.SecretBox(MASTER_KEY), json.dumps(body).encode()
    assert stored == idempotency.keyed_request_hash(box, "POST", PAYMENTS, raw)
    assert stored.startswith("v1:") and stored != idempotency.request_hash("POST", PAYMENTS, raw)
    # Under another master key the same request hashes differently: the hash is keyed.
    assert stored != idempotency.keyed_request_hash(crypto.SecretBox(crypto.new_master_key()), "POST", PAYMENTS, raw)


def test_card_fields_enter_the_request_hash_only_as_a_keyed_fingerprint():
    box = crypto.SecretBox(MASTER_KEY)
    seen: list[bytes] = []

    class Recording(crypto.SecretBox):
        def keyed_hash(self, purpose: str, data: bytes) -> str:
            seen.append(data)
            return box.keyed_hash(purpose, data)

    body = json.dumps(_card_body("order_x", "4111111111111111", "737")).encode()
    idempotency.keyed_request_hash(Recording(MASTER_KEY), "POST", PAYMENTS, body)
    card_input, request_input = seen
    assert b"4111111111111111" in card_input  # the card's fingerprint is made from the card...
    assert b"4111" not in request_input and b"737" not in request_input  # ...and only it reaches the request hash
    assert json.loads(request_input.split(b"\n", 1)[1])["card"] == {
        "fingerprint": box.keyed_hash(idempotency.CARD_PURPOSE, card_input)}


# -- secrets in replayed responses --------------------------------------------------------------------------

async def test_a_rotated_webhook_secret_is_kept_sealed_and_replayed_in_full(client, merchant, pool):
    headers = merchant["headers"]
    first = await _post(client, ROTATE, None, headers, "rotate-key")
    replay = await _post(client, ROTATE, None, headers, "rotate-key")
    assert first[0] == replay[0] == 200 and first[1] == replay[1]  # a dropped connection still learns the secret
    assert replay[2]["Idempotent-Replayed"] == "true"
    secret = json.loads(replay[1])["webhook_secret"]
    resp = await client.get("/api/v1/merchant/webhook-secret", headers=headers)
    assert (await resp.json())["webhook_secret"] == secret

    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT response_body, response_sealed FROM idempotency_keys WHERE key = 'rotate-key'")
        body, sealed = await cur.fetchone()
    body = bytes(body)
    assert sealed is True
    assert secret.encode() not in body and secret.split("_", 1)[1].encode() not in body
    assert b"whsec_" not in body and b"webhook_secret" not in body


async def test_responses_without_a_secret_are_kept_as_sent(client, merchant, pool):
    status, raw, _ = await _post(client, "/api/v1/orders", {"amount": 100, "currency": "INR"}, merchant["headers"],
                                 "plain-key")
    assert status == 201
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute("SELECT response_body, response_sealed FROM idempotency_keys WHERE key = 'plain-key'")
        body, sealed = await cur.fetchone()
    assert (bytes(body), sealed) == (raw, False)


def test_a_sealed_value_opens_only_in_the_context_it_was_sealed_for():
    box = crypto.SecretBox(MASTER_KEY)
    sealed = box.seal("whsec_x", b"merchant a\nkey 1")
    assert box.open(sealed, b"merchant a\nkey 1") == "whsec_x"
    for other in (b"merchant b\nkey 1", b"merchant a\nkey 2", None):
        with pytest.raises(crypto.MasterKeyError):
            box.open(sealed, other)


# -- the upgrade --------------------------------------------------------------------------------------------

async def _insert_completed(pool, merchant_id: str, key: str, path: str, request_hash: str, body: bytes) -> None:
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(
            """INSERT INTO idempotency_keys (merchant_id, key, request_method, request_path, request_hash, claim_token,
                                             state, response_status, response_body, expires_at)
               VALUES (%s, %s, 'POST', %s, %s, 'old', 'completed', 201, %s, now() + interval '1 hour')""",
            (merchant_id, key, path, request_hash, body))


async def test_keys_stored_before_keying_still_replay_their_response(client, merchant, pool):
    """Rows a pre-v1 process wrote (during a rolling upgrade) are compared as they were stored; card payments'
    hashes that migration 0004 redacted replay to a retry with the same method and path."""
    headers, merchant_id = merchant["headers"], merchant["merchant_id"]
    order_body = {"amount": 100, "currency": "INR"}
    order = await create_order(client, headers, **order_body)  # what the first request answered, before v1
    order_answer = json.dumps(order).encode()
    payment_body = _card_body(order["id"], "4111111111111111", "737")
    resp = await client.post(PAYMENTS, json=payment_body, headers=headers)
    payment_answer = await resp.read()
    assert resp.status == 201, payment_answer
    old = idempotency.request_hash("POST", "/api/v1/orders", json.dumps(order_body).encode())
    await _insert_completed(pool, merchant_id, "old-order", "/api/v1/orders", old, order_answer)
    await _insert_completed(pool, merchant_id, "old-payment", PAYMENTS, idempotency.REDACTED, payment_answer)

    status, raw, resp_headers = await _post(client, "/api/v1/orders", order_body, headers, "old-order")
    assert (status, raw, resp_headers["Idempotent-Replayed"]) == (201, order_answer, "true")
    status, _, _ = await _post(client, "/api/v1/orders", {**order_body, "amount": 101}, headers, "old-order")
    assert status == 422
    status, raw, _ = await _post(client, PAYMENTS, payment_body, headers, "old-payment")
    assert (status, raw) == (201, payment_answer)
    status, _, _ = await _post(client, "/api/v1/orders", order_body, headers, "old-payment")  # another path
    assert status == 422


async def test_migration_0004_erases_the_unkeyed_hashes_of_card_payments(fresh_database, services, tmp_path):
    before = tmp_path / "sql"
    before.mkdir()
    for path in sql_dir().glob("[0-9][0-9][0-9][0-9]_*.sql"):
        if path.name < "0004":
            shutil.copy(path, before / path.name)
    pool = await create_pool(build_config(fresh_database, services[1]))
    try:
        await migrations.migrate(pool, before)
        shop = await create_merchant(pool, crypto.SecretBox(MASTER_KEY), "Old Shop", "old@example.com")
        card_request = json.dumps(_card_body("order_x", "4111111111111111", "737")).encode()
        order_hash = idempotency.request_hash("POST", "/api/v1/orders", b'{"amount": 100}')
        await _insert_completed(pool, shop["merchant_id"], "card", PAYMENTS,
                                idempotency.request_hash("POST", PAYMENTS, card_request), b"{}")
        await _insert_completed(pool, shop["merchant_id"], "order", "/api/v1/orders", order_hash, b"{}")

        assert "0004_idempotency_at_rest" in await migrations.migrate(pool)

        async with pool.acquire() as conn, conn.cursor() as cur:
            await cur.execute("SELECT key, request_hash, response_sealed FROM idempotency_keys ORDER BY key")
            rows = await cur.fetchall()
    finally:
        pool.close()
        await pool.wait_closed()
    assert rows == [("card", idempotency.REDACTED, False), ("order", order_hash, False)]
