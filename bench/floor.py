"""The stack's floor: the baseline's INSERT + SELECT behind one aiohttp route, served as ``paygate serve``
serves (one process, ``paygate.http.serving.run_app``: uvloop when installed, no access log).

``python -m bench.floor --port P`` with PAYGATE_DATABASE__URL set. ``POST /floor`` parses its JSON body,
inserts one row and reads it back through an aiopg pool of the size paygate's pool has by default, and
answers it as JSON; ``GET /readyz`` answers once the pool is up. No authentication, validation, idempotency,
state machine or queue: what paygate's create payment costs beyond this is paygate's own, and what this costs
beyond the baseline is the HTTP server's and client's (aiohttp on both sides).
"""

from __future__ import annotations

import argparse
import json
import os

import aiopg
from aiohttp import web

from paygate.http.serving import run_app

POOL = 20  # paygate's default database.max_size, as the baseline's
TABLE = "bench_floor"


async def _pool(app: web.Application):
    pool = await aiopg.create_pool(os.environ["PAYGATE_DATABASE__URL"], minsize=1, maxsize=POOL, timeout=60)
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"DROP TABLE IF EXISTS {TABLE}")
        await cur.execute(f"""CREATE TABLE {TABLE} (
            id bigserial PRIMARY KEY, merchant_id text NOT NULL, amount bigint NOT NULL,
            payload jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())""")
    app["pool"] = pool
    yield
    async with pool.acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"DROP TABLE {TABLE}")
    pool.close()
    await pool.wait_closed()


async def floor(request: web.Request) -> web.Response:
    body = json.loads(await request.read())
    async with request.app["pool"].acquire() as conn, conn.cursor() as cur:
        await cur.execute(f"INSERT INTO {TABLE} (merchant_id, amount, payload) VALUES (%s, %s, %s) RETURNING id",
                          ("mer_bench", 50000, json.dumps(body)))
        (row_id,) = await cur.fetchone()
        await cur.execute(f"SELECT id, merchant_id, amount, payload, created_at FROM {TABLE} WHERE id = %s",
                          (row_id,))
        row = await cur.fetchone()
    return web.json_response({"id": row[0], "merchant_id": row[1], "amount": row[2], "payload": row[3],
                              "created_at": row[4].isoformat()}, status=201)


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = web.Application()
    app.cleanup_ctx.append(_pool)
    app.router.add_post("/floor", floor)
    app.router.add_get("/readyz", ready)
    run_app(app, args.host, args.port)


if __name__ == "__main__":
    main()
