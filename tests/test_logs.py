"""Logs: one JSON object per line under logging.format json, every request and job logged, no card data or secret."""

from __future__ import annotations

import base64
import json
import logging
import re
import signal

import aiohttp

from paygate.infra.logs import JsonFormatter, mask_card_numbers

from .api import card
from .conftest import MASTER_KEY, paygate_env

PAN = "5555555555554444"  # a Mastercard test number, approved by the simulator's success rate of 1


def _lines(output: str) -> list[dict]:
    """Every line of the process's output, parsed; a line that is not a JSON object fails the test."""
    parsed = []
    for line in output.splitlines():
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON log line: {line!r}") from None
        assert isinstance(entry, dict) and {"time", "level", "logger", "message"} <= set(entry), line
        parsed.append(entry)
    return parsed


async def test_json_logs_carry_request_fields_and_no_card_data_or_secret(clean_state, paygate_process, merchant):
    env = paygate_env(*clean_state, PAYGATE_LOGGING__FORMAT="json", PAYGATE_LOGGING__LEVEL="debug")
    server = await paygate_process("serve", env=env).ready()
    key, secret = merchant["api_key"], merchant["api_secret"]
    headers = {"X-Api-Key": key, "X-Api-Secret": secret}
    basic = {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
    async with aiohttp.ClientSession(server.base_url) as http:
        async with http.post("/api/v1/orders", json={"amount": 50000, "currency": "INR"}, headers=basic) as resp:
            assert resp.status == 201
            order = await resp.json()
        body = {"order_id": order["id"], "method": "card", "card": card(PAN, cvv="737")}
        async with http.post("/api/v1/payments", json=body, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
            payment = await resp.json()
            request_id = resp.headers["X-Request-Id"]
        # A refused one too: the error path must not echo the card either.
        refused = {**body, "card": card(PAN, cvv="737", expiry_year=2001)}
        async with http.post("/api/v1/payments", json=refused, headers=headers) as resp:
            assert resp.status == 400
        for _ in range(200):
            async with http.get(f"/api/v1/payments/{payment['id']}", headers=headers) as resp:
                if (await resp.json())["status"] == "success":
                    break
        else:
            raise AssertionError("the payment never succeeded")
    server.signal(signal.SIGTERM)
    assert server.wait() == 0
    output = server.output()  # shutdown logs included
    lines = _lines(output)

    for forbidden in (PAN, PAN[:6] + " " + PAN[6:], secret, merchant["webhook_secret"], MASTER_KEY, '"cvv"', "737",
                      basic["Authorization"].split()[1]):
        # a number is looked for as a number: a port like 59737 in a library's debug line is not the CVV 737
        pattern = re.escape(forbidden)
        found = re.search(rf"(?<![0-9]){pattern}(?![0-9])" if forbidden.isdigit() else pattern, output)
        assert found is None, f"{forbidden!r} reached the logs: …{output[max(0, found.start() - 200):found.end()]}"
    access = [e for e in lines if e["logger"] == "paygate.access" and e.get("request_id") == request_id]
    assert len(access) == 1, access
    entry = access[0]
    assert entry["merchant_id"] == merchant["merchant_id"]
    assert (entry["route"], entry["method"], entry["status"]) == ("/api/v1/payments", "POST", 201)
    assert isinstance(entry["duration_ms"], float) and entry["duration_ms"] >= 0
    worker = [e for e in lines if e["logger"] == "paygate.jobs" and e.get("payment_id") == payment["id"]]
    assert worker and worker[-1]["status"] == "success"


def test_a_card_number_that_slips_into_a_log_line_is_masked():
    record = logging.LogRecord("paygate.test", logging.INFO, __file__, 1, "card %s / %s, order 12345678901234",
                               ("4111 1111 1111 1111", "4111-1111-1111-1111"), None)
    record.card = "4242424242424242"
    line = JsonFormatter().format(record)
    entry = json.loads(line)
    assert "1111" not in line and "4242" not in line
    assert entry["card"] == "[card number masked]"
    assert "12345678901234" in entry["message"]  # not Luhn-valid: an ordinary number stays
    assert mask_card_numbers("ref 4000000000000002") == "ref [card number masked]"
    assert mask_card_numbers("4 0 0 0 0 0 0 0 0 0 0 0 0 0 0 2 café") == "[card number masked] café"


def test_text_logs_write_request_and_job_lines_plainly_and_masked(capsys):
    """In text format the per-request and per-job streams skip rich (about a millisecond a line) and still mask."""
    from paygate.infra import config as config_mod
    from paygate.infra import logs

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    lookups = logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing
    logs.setup(config_mod.build({"database.url": "postgresql://x/y", "redis.url": "redis://x"}, check_required=True))
    try:
        logging.getLogger("paygate.access").info("POST %s 201", "/api/v1/payments 4111111111111111")
        logging.getLogger("paygate.jobs").info("payment %s: success", "pay_x")
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and "INFO" in err[0] and "paygate.access: POST" in err[0]
        assert "4111111111111111" not in err[0] and "[card number masked]" in err[0]
        assert err[1].endswith("paygate.jobs: payment pay_x: success")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
        logs.fields_wanted = True  # as before setup(): the tests after this one read the records' fields
        logging._srcfile, logging.logThreads, logging.logProcesses, logging.logMultiprocessing = lookups
        for name in logs.EVENT_LOGGERS:
            logging.getLogger(name).handlers, logging.getLogger(name).propagate = [], True
