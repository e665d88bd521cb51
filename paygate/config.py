"""Settings: one table feeds the defaults, config.example.yaml, validation and the docs.

Load order: defaults, then a YAML file (``--config FILE`` or ``PAYGATE_CONFIG``),
then environment variables ``PAYGATE_<SECTION>__<KEY>``.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

ENV_PREFIX = "PAYGATE_"


class ConfigError(Exception):
    """A configuration problem, reported as one line naming the key."""


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
            "webhooks.per_endpoint_concurrency of one merchant's, and none of a merchant whose share a worker "
            "process already holds",
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
            "Deliveries to one merchant's endpoint in flight at once, per worker process", minimum=1),
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


class Config(SimpleNamespace):
    """Settings as ``config.section.key``; ``config.get("section.key")`` too."""

    def get(self, name: str) -> Any:
        section, key = name.split(".")
        return getattr(getattr(self, section), key)

    def replace(self, **changes: Any) -> Config:
        """A copy with ``section__key=value`` changes applied and validated."""
        values = self.as_dict()
        for dunder, value in changes.items():
            section, key = dunder.split("__")
            values[f"{section}.{key}"] = value
        return build(values, check_required=True)

    def as_dict(self) -> dict[str, Any]:
        return {s.name: self.get(s.name) for s in SETTINGS}


def mask_url(url: str | None) -> str:
    """The URL with its password replaced by ***."""
    if not url:
        return str(url)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparsable url>"


def _coerce(setting: Setting, value: Any, source: str) -> Any:
    """Check and convert one value; raise ConfigError naming the key."""
    name, kind = setting.name, setting.type
    if value is None or (isinstance(value, str) and not value.strip()):
        return None  # an empty value means "not set"
    from_text = isinstance(value, str) and source == "env"
    try:
        if kind in ("str", "url", "choice"):
            if not isinstance(value, str):
                raise TypeError
            value = value.strip()
        elif kind == "int":
            if from_text:
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
        elif kind == "float":
            if from_text:
                value = float(value)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            value = float(value)
        elif kind == "bool":
            if from_text:
                lowered = value.lower()
                if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise TypeError
                value = lowered in ("1", "true", "yes", "on")
            if not isinstance(value, bool):
                raise TypeError
        elif kind == "list[float]":
            if from_text:
                value = [float(v) for v in value.split(",") if v.strip()]
            if not isinstance(value, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
            ):
                raise TypeError
            value = [float(v) for v in value]
        elif kind == "list[network]":
            value = _networks(setting, value, source)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {kind}, got {value!r} (from {source})") from None

    if setting.minimum is not None and kind in ("int", "float") and value < setting.minimum:
        raise ConfigError(f"{name}: must be at least {setting.minimum:g}, got {value!r} (from {source})")
    if kind == "choice" and value not in setting.choices:
        raise ConfigError(f"{name}: must be one of {', '.join(setting.choices)}, got {value!r} (from {source})")
    if kind == "url":
        _check_url(setting, value, source)
    return value


def _networks(setting: Setting, value: Any, source: str) -> list[str]:
    """CIDR networks (a bare address is its own /32 or /128), normalized; a comma-separated string from env."""
    if isinstance(value, str) and source == "env":
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise TypeError
    networks = []
    for text in value:
        try:
            networks.append(str(ipaddress.ip_network(text.strip())))
        except ValueError as exc:  # e.g. "10.0.0.1/8 has host bits set": say which entry
            raise ConfigError(f"{setting.name}: {text!r} is not a network: {exc} (from {source})") from None
    return networks


def _check_url(setting: Setting, value: str, source: str) -> None:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigError(f"{setting.name}: unparsable URL {mask_url(value)!r}: {exc} (from {source})") from None
    if parts.scheme not in setting.schemes:
        raise ConfigError(
            f"{setting.name}: URL scheme must be one of {', '.join(setting.schemes)}, "
            f"got {mask_url(value)!r} (from {source})"
        )
    if parts.scheme != "unix" and not parts.netloc and "host=" not in parts.query:
        raise ConfigError(f"{setting.name}: URL has no host: {mask_url(value)!r} (from {source})")


def _flatten_yaml(data: Any, path: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections at the top level")
    flat: dict[str, Any] = {}
    for section, keys in data.items():
        if section not in SECTIONS:
            raise ConfigError(f"{section}: unknown section (in {path})")
        if keys is None:
            continue
        if not isinstance(keys, dict):
            raise ConfigError(f"{section}: expected a mapping of keys (in {path})")
        for key, value in keys.items():
            name = f"{section}.{key}"
            if name not in BY_NAME:
                raise ConfigError(f"{name}: unknown key (in {path})")
            flat[name] = value
    return flat


def _read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"config file {path}: {exc.strerror}") from None
    try:
        return _flatten_yaml(yaml.safe_load(text), str(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ConfigError(f"config file {path}:{where} is not valid YAML") from None


def _read_env(environ: dict[str, str]) -> dict[str, str]:
    flat = {}
    for var, value in environ.items():
        if not var.startswith(ENV_PREFIX) or "__" not in var or var == "PAYGATE_CONFIG":
            continue
        section, _, key = var[len(ENV_PREFIX):].lower().partition("__")
        name = f"{section}.{key}"
        if section.startswith("test_"):
            continue  # PAYGATE_TEST_* belongs to the test harness
        if name not in BY_NAME:
            raise ConfigError(f"{name}: unknown key (from environment {var})")
        flat[name] = value
    return flat


def build(values: dict[str, Any], *, check_required: bool, sources: dict[str, str] | None = None) -> Config:
    """Validate flat ``{"section.key": value}`` values over the defaults into a Config."""
    sources = sources or {}
    merged: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    for setting in SETTINGS:
        raw = values.get(setting.name, setting.default)
        value = _coerce(setting, raw, sources.get(setting.name, "default"))
        if check_required and setting.required and value in (None, ""):
            raise ConfigError(
                f"{setting.name}: required; set it in the config file or as "
                f"{ENV_PREFIX}{setting.name.replace('.', '__').upper()}"
            )
        section, key = setting.name.split(".")
        merged[section][key] = value
    config = Config(**{section: SimpleNamespace(**keys) for section, keys in merged.items()})
    if config.processor.delay_max < config.processor.delay_min:
        raise ConfigError("processor.delay_max: must not be below processor.delay_min")
    for rate in ("success_rate", "timeout_rate", "failure_rate"):
        if getattr(config.processor, rate) > 1:
            raise ConfigError(f"processor.{rate}: must be between 0 and 1")
    if config.database.min_size > config.database.max_size:
        raise ConfigError("database.min_size: must not exceed database.max_size")
    return config


def load(
    path: str | os.PathLike | None = None,
    *,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
    role_defaults: dict[str, Any] | None = None,
    check_required: bool = True,
) -> Config:
    """Defaults (with ``role_defaults`` over them, e.g. for ``paygate dev``), then the YAML file,
    then the environment, then ``overrides`` (from command-line options)."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = dict(role_defaults or {})
    sources: dict[str, str] = {name: "role default" for name in values}
    path = path or environ.get("PAYGATE_CONFIG") or None
    if path:
        for name, value in _read_yaml(path).items():
            values[name], sources[name] = value, f"file {path}"
    for name, value in _read_env(environ).items():
        values[name] = value
        sources[name] = "env"
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name], sources[name] = value, "option"
    return build(values, check_required=check_required, sources=sources)


# What a section's settings do not say: written above it in config.example.yaml.
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
