"""The settings table: every key, its type, default and help. It feeds the defaults, validation (config.py),
config.example.yaml (``example_yaml``) and the docs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Setting:
    name: str  # "section.key"
    type: str  # str | int | float | bool | url | choice | list[float] | list[network]
    default: Any
    help: str
    required: bool = False
    choices: tuple[str, ...] = ()
    schemes: tuple[str, ...] = ()
    minimum: float | None = None
    secret: bool = False


SETTINGS: tuple[Setting, ...] = (
    Setting("database.url", "url", None, "Postgres URL, e.g. postgresql://user:pass@127.0.0.1:5432/paygate",
            required=True, schemes=("postgresql", "postgres")),
    Setting("database.min_size", "int", 1, "Connections kept open in the pool", minimum=0),
    Setting("database.max_size", "int", 20, "Most connections the pool opens", minimum=1),
    Setting("database.timeout", "float", 10.0, "Seconds to wait to connect or for a free connection", minimum=0.1),
    Setting("database.prepared_statements", "bool", True,
            "Prepare the frequent statements once per connection (false behind a transaction-mode pooler such as "
            "PgBouncer, which does not keep a session's prepared statements)"),
    Setting("redis.url", "url", None, "Redis URL, e.g. redis://127.0.0.1:6379/0 or unix:///path/redis.sock",
            required=True, schemes=("redis", "rediss", "unix")),
    Setting("redis.max_connections", "int", 50, "Most connections in the Redis pool", minimum=1),
    Setting("redis.timeout", "float", 5.0,
            "Seconds to wait for Redis to connect or answer: an enqueue that takes longer is left to the scheduler "
            "(the request still succeeds), and a request that needs Redis answers 503 with Retry-After", minimum=0.1),
    Setting("server.host", "str", "127.0.0.1", "Address paygate serve listens on"),
    Setting("server.port", "int", 8000, "Port paygate serve listens on", minimum=0),
    Setting("server.trusted_proxies", "list[network]", [],
            "Networks (CIDR, or single addresses) of the reverse proxies in front of paygate: from a peer in one "
            "of them the client's address and scheme are read from the headers of server.forwarded_headers; "
            "from any other peer those headers are ignored (empty: paygate is reached directly)"),
    Setting("server.forwarded_headers", "choice", "x-forwarded",
            "Which headers the trusted proxies write: x-forwarded (X-Forwarded-For and X-Forwarded-Proto, as "
            "nginx, HAProxy, Caddy, Traefik and cloud load balancers do) or forwarded (RFC 7239); the other kind "
            "is ignored, since a proxy passes it on from the client unchecked",
            choices=("x-forwarded", "forwarded")),
    Setting("server.max_in_flight", "int", 256,
            "Requests one serving process works on at once; a further one is answered 503 with Retry-After at "
            "once, not queued (/healthz, /readyz, /metrics and /api/v1/openapi.json are never refused). Those "
            "beyond database.max_size wait for a database connection (up to database.timeout), so keep it a "
            "small multiple of that: a statement then waits behind about max_in_flight / database.max_size "
            "others", minimum=1),
    Setting("server.overload_retry_after", "int", 1,
            "Seconds that the Retry-After of a request refused for server.max_in_flight asks the client to wait",
            minimum=1),
    Setting("security.master_key", "str", None,
            "Base64 of 32 random bytes; encrypts webhook secrets (generate: paygate dev does it for you)",
            secret=True),
    Setting("api.max_amount", "int", 100_000_000_00,
            "Largest amount in minor units that an order or payment may carry", minimum=1),
    Setting("api.auth_cache_ttl", "float", 5.0,
            "Seconds a server remembers an authenticated merchant; a secret rotated or a merchant deactivated "
            "elsewhere is refused by it within this time (0: look up every request)", minimum=0),
    Setting("api.rate_limit", "int", 100,
            "Requests per second one merchant may make to the API with its key, sustained, counted across every "
            "server process in Redis; more are refused with 429 and Retry-After (0: no limit; paygate merchants "
            "set-rate-limit overrides it per merchant)", minimum=0),
    Setting("api.rate_limit_burst", "int", 200,
            "Requests one merchant may make at once: the limit counts api.rate_limit_burst requests per window "
            "of rate_limit_burst / rate_limit seconds", minimum=1),
    Setting("api.test_endpoints", "bool", False,
            "Serve GET /api/v1/test/jobs/status (the payment queue's counts and workers, without authentication; "
            "for demos and tests); on under paygate dev, 404 when off"),
    Setting("worker.concurrency", "int", 200, "Payments (or refunds) one worker process takes on at once, in batches "
            "of worker.batch", minimum=1),
    Setting("worker.batch", "int", 50, "Most stream entries a worker reads at once", minimum=1),
    Setting("worker.claim_after", "float", 10.0,
            "Seconds an entry read by a worker may stay unfinished before another worker claims it (a worker "
            "that died, or a batch that failed)", minimum=0.1),
    Setting("worker.webhook_concurrency", "int", 200, "Webhook deliveries one worker process sends at once",
            minimum=1),
    Setting("worker.webhook_batch", "int", 50,
            "Most due webhook deliveries one claim takes (one statement); at most four times "
            "webhooks.per_endpoint_concurrency of one merchant's, and none to an endpoint whose share (as many) a "
            "worker process already holds",
            minimum=1),
    Setting("worker.webhook_claim_gap", "float", 0.01,
            "Least seconds between two claims, and between two records of webhook attempts, of one worker "
            "process when they follow each other: under load, what becomes due (or ends) meanwhile goes in one "
            "statement (an idle worker claims at once)",
            minimum=0),
    Setting("processor.delay_min", "float", 0.0, "Shortest simulated processor delay, seconds", minimum=0),
    Setting("processor.delay_max", "float", 0.0, "Longest simulated processor delay, seconds", minimum=0),
    Setting("processor.success_rate", "float", 1.0,
            "Share of non-magic payments the test-mode simulator approves (0..1)", minimum=0),
    Setting("processor.timeout", "float", 30.0,
            "Seconds a processor call may take; after that its outcome is unknown until the scheduler asks the "
            "processor for it (payments.stuck_after later)", minimum=0.1),
    Setting("processor.timeout_rate", "float", 0.0,
            "Share of calls whose answer the test-mode simulator loses after booking them, as a timeout (0..1)",
            minimum=0),
    Setting("processor.failure_rate", "float", 0.0,
            "Share of calls that fail before reaching the test-mode simulator (0..1)", minimum=0),
    Setting("payments.authorization_window", "float", 7 * 24 * 3600.0,
            "Seconds an uncaptured authorization lives before it is released", minimum=1),
    Setting("payments.stuck_after", "float", 60.0,
            "Seconds a payment or refund may sit unfinished (a processor call's answer lost, its job lost) "
            "before the scheduler enqueues it again, and its worker asks the processor what became of the call",
            minimum=0.1),
    Setting("webhooks.timeout", "float", 10.0, "Seconds to wait for a merchant's endpoint to answer", minimum=0.1),
    Setting("webhooks.retry_schedule", "list[float]", [60.0, 300.0, 1800.0, 7200.0],
            "Seconds before each retry after a failed attempt (the seed's 1 min, 5 min, 30 min, 2 h); "
            "paygate dev uses the seed's test schedule 5, 10, 15, 20"),
    Setting("webhooks.max_attempts", "int", 5, "Attempts before a delivery is marked failed", minimum=1),
    Setting("webhooks.per_endpoint_concurrency", "int", 10,
            "Deliveries to one endpoint (a merchant's webhook_url, or one of its webhook endpoints) in flight at "
            "once, per worker process", minimum=1),
    Setting("webhooks.allow_private_targets", "bool", False,
            "Allow webhook URLs on loopback, private and link-local addresses (true under paygate dev)"),
    Setting("webhooks.secret_overlap", "float", 24 * 3600.0,
            "Seconds after a secret rotation during which deliveries are signed with both secrets", minimum=0),
    Setting("idempotency.ttl", "float", 24 * 3600.0, "Seconds an Idempotency-Key is remembered", minimum=1),
    Setting("idempotency.lease", "float", 60.0,
            "Seconds an in-flight Idempotency-Key stays claimed if its request never finishes", minimum=1),
    Setting("checkout.rate_limit", "str", "120/minute",
            "Requests one IP address may make to the public checkout endpoints (limits' notation, e.g. 10/second)"),
    Setting("checkout.status_rate_limit", "str", "600/minute",
            "Payment-status checks one IP address may make (the hosted page polls twice a second while it waits)"),
    Setting("dashboard.idle_timeout", "float", 1800.0,
            "Seconds a dashboard session lasts without a request before it must sign in again", minimum=1),
    Setting("dashboard.login_attempts", "str", "10/15minutes",
            "Sign-in attempts one IP address may make since its last success before it is refused "
            "(limits' notation)"),
    Setting("dashboard.login_delay", "float", 1.0,
            "Seconds added to each sign-in, per wrong attempt past the third, up to 10 s (slows guessing)",
            minimum=0),
    Setting("scheduler.interval", "float", 1.0, "Seconds between scheduler passes", minimum=0.05),
    Setting("metrics.enabled", "bool", True,
            "Serve Prometheus metrics at /metrics on the API port (they carry route templates and counts, no "
            "merchant data); without metrics.token anyone who reaches the port may read them"),
    Setting("metrics.token", "str", None,
            "A bearer token that /metrics requires (Authorization: Bearer <token>; else 401), e.g. the "
            "bearer_token of a Prometheus scrape config; unset: /metrics is open", secret=True),
    Setting("logging.level", "choice", "info", "Log level",
            choices=("debug", "info", "warning", "error")),
    Setting("logging.format", "choice", "text", "text (readable) or json (one object per line)",
            choices=("text", "json")),
)

BY_NAME = {s.name: s for s in SETTINGS}
SECTIONS = tuple(dict.fromkeys(s.name.split(".")[0] for s in SETTINGS))


SECTION_NOTES = {
    "webhooks": ("Receivers verify deliveries with paygate.verify.verify_webhook(secret, body, headers, tolerance=300)",
                 "(or paygate webhooks listen --secret whsec_... --tolerance 300): a delivery signed more than",
                 "tolerance seconds from now is refused as a replay."),
}


def example_yaml() -> str:
    """config.example.yaml, generated from SETTINGS so that every key is documented."""
    lines = [
        "# paygate configuration. Every key, its default and what it does.",
        "# Load order: these defaults, then this file (--config FILE or PAYGATE_CONFIG),",
        "# then environment variables PAYGATE_<SECTION>__<KEY>, e.g. PAYGATE_DATABASE__URL.",
    ]
    current = None
    for setting in SETTINGS:
        section, key = setting.name.split(".")
        if section != current:
            lines += ["", *(f"# {note}" for note in SECTION_NOTES.get(section, ())), f"{section}:"]
            current = section
        lines.append(f"  # {setting.help}" + (" (required)" if setting.required else ""))
        if setting.choices:
            lines.append(f"  # one of: {', '.join(setting.choices)}")
        default = setting.default
        rendered = "null" if default is None else yaml.safe_dump(default, default_flow_style=True).strip()
        rendered = rendered.removesuffix("\n...").strip()
        lines.append(f"  {key}: {rendered}")
    return "\n".join(lines) + "\n"
