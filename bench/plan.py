"""What the bench runs and within what time: the plans (full and --quick), the targets and the request shapes.

The phases run in this order, each against the processes it needs, so that none queues behind another's backlog:

====  ==========================================  =====================================================
 #    phase                                       processes
====  ==========================================  =====================================================
 7    CLI start-up (while the machine is quiet)   new ``paygate`` processes
 5    baseline: INSERT + SELECT through aiopg     the bench itself (a Python closed loop, no HTTP)
 5f   floor: the same behind one aiohttp route    ``python -m bench.floor``, wrk
 8    drain: a backlog of pending payments        one ``paygate worker``, nothing else
 1    create payment, API only                    ``paygate serve --no-worker``, wrk
 2    GET payment                                 the same server, wrk
 9    fairness at saturation (GET, then create)   the same server, wrk at c=200
 1o   create at half the maximum, open loop       the same server, a Python open loop
 4    webhook deliveries drained                  ``paygate serve`` (workers in it), the local receiver
 3    end to end at 200 payments/s                the same server, a Python open loop and the receiver
====  ==========================================  =====================================================

Between 1o and 4 nothing runs; the payments that the API-only phases left pending are marked failed through SQL
and Redis is emptied (FLUSHDB of the bench's own Redis), so that the workers start with nothing queued.
"""

from __future__ import annotations

from dataclasses import dataclass

from paygate.storage.seed import TEST_MERCHANT

BASELINE_CONCURRENCY = 64  # the baseline's closed loop (as in every earlier run, so that ratios stay comparable)
BASELINE_POOL = 20  # paygate's default database.max_size
CONCURRENCY = 50  # wrk's connections for floor, create and GET (as in issue #19's measurements)
SATURATION = 200  # wrk's connections for the fairness phases
E2E_RATE = 200  # payments per second, open loop
ORDER_RATE_CAP = 5000  # orders made per second of a wrk window; ids are reused (and said so) past them
WEBHOOKS_PER_PAYMENT = ("payment.created", "payment.success", "payment.captured")  # an automatic-capture payment

HEADERS = {"X-Api-Key": TEST_MERCHANT["api_key"], "X-Api-Secret": TEST_MERCHANT["api_secret"],
           "Content-Type": "application/json"}
CARD_NUMBER = "4111111111111111"  # approved by the simulator
CARD = f'{{"number": "{CARD_NUMBER}", "expiry_month": 12, "expiry_year": 2035, "cvv": "123", "name": "Bench"}}'

# Each figure's target; ratios are to the baseline's ops/s of the same run.
TARGETS = {
    "create_vs_baseline": 0.45,
    "create_cpu_ms": 1.6,  # paygate + Postgres + Redis per create
    "drain_vs_baseline": 0.60,
    "drain_cpu_ms": 0.6,  # paygate + Postgres + Redis per payment moved to final
    "fairness_p99_over_p50": 5.0,
    "open_loop_create_p99_ms": 50.0,
    "e2e_p50_ms": 100.0,
    "e2e_p99_ms": 500.0,
    "deliveries_per_s": 1500.0,
}


def payment_body(order_id: str) -> str:
    return f'{{"order_id": "{order_id}", "method": "card", "card": {CARD}}}'


@dataclass(frozen=True)
class Plan:
    baseline_duration: float  # the baseline's closed loop, seconds
    floor_duration: int  # wrk windows, whole seconds (wrk takes no fractions)
    create_duration: int
    get_duration: int
    saturation_duration: int  # each fairness phase
    open_loop_duration: float  # create at half the maximum (0: not measured)
    warmup: int  # seconds of load before floor, create and the open loop, not measured
    drain_backlog: int  # pending payments made before the worker starts
    drain_timeout: float  # the longest the drain is waited for
    deliveries: int
    delivery_timeout: float
    e2e_duration: float
    e2e_grace: float  # waiting for the last webhooks after the open loop ends
    budget: float  # seconds for the whole run; waits are cut and phases skipped to stay within it
    cli_runs: int  # runs of paygate --help and status --json
    cli_subcommand_runs: int  # runs of each subcommand's --help


FULL = Plan(baseline_duration=20, floor_duration=10, create_duration=20, get_duration=15, saturation_duration=10,
            open_loop_duration=10, warmup=2, drain_backlog=20_000, drain_timeout=60, deliveries=10_000,
            delivery_timeout=40, e2e_duration=30, e2e_grace=15, budget=300, cli_runs=10, cli_subcommand_runs=3)
QUICK = Plan(baseline_duration=3, floor_duration=3, create_duration=4, get_duration=3, saturation_duration=2,
             open_loop_duration=3, warmup=1, drain_backlog=2_000, drain_timeout=15, deliveries=1_000,
             delivery_timeout=10, e2e_duration=5, e2e_grace=4, budget=100, cli_runs=3, cli_subcommand_runs=1)
