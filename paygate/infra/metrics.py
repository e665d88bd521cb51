"""Prometheus metrics through prometheus-client: what each process counts, and what /metrics reads at scrape time.

Counters and histograms are kept by the process that observes them. Under ``paygate serve --processes N``
the parent points PROMETHEUS_MULTIPROC_DIR at a fresh directory before the children import this module,
so each child writes its samples there and any child answering /metrics adds up every process's files.
Figures read from Postgres and Redis at scrape time (queue depth, the oldest due delivery, scheduler lag,
connected workers) are system-wide: the answering process reads them once and they are never summed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_REQUESTS = Counter(
    "paygate_http_requests", "HTTP requests answered, by route template, method and status",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "paygate_http_request_duration_seconds", "Time to answer an HTTP request, by route template and method",
    ["route", "method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0))
HTTP_IN_FLIGHT = Gauge(
    "paygate_http_requests_in_flight",
    "HTTP requests being answered, of those that server.max_in_flight bounds (summed over serving processes)",
    multiprocess_mode="livesum")
PAYMENTS = Counter("paygate_payments", "Payments a worker took to a final status, by that status", ["status"])
REFUNDS = Counter("paygate_refunds", "Refunds a worker took to a final status, by that status", ["status"])
PROCESSOR_CALLS = Counter(
    "paygate_processor_calls",
    "Calls to the processor by operation (authorize, sale, capture, void, refund, fetch) and outcome (approved, "
    "declined, unknown: no answer came; not_found: a fetch for a call the processor never received)",
    ["operation", "outcome"])
WEBHOOK_DELIVERIES = Counter(
    "paygate_webhook_deliveries",
    "Webhook delivery attempts by outcome: success, retry (failed, another attempt scheduled), "
    "failed (failed, no attempt left)", ["outcome"])

UNMATCHED = "unmatched"  # the route label of requests no route matched: never the raw path


def route_label(request) -> str:
    """The matched route's template (``/api/v1/payments/{id}``), so that ids never become label values."""
    route = request.match_info.route
    resource = getattr(route, "resource", None)
    return resource.canonical if resource is not None else UNMATCHED


METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# (route, method, status) -> its counter and histogram: prometheus-client's labels() builds a key and takes a lock
# on every call, so each is looked up once. Bounded, as the labels are.
_REQUEST_SERIES: dict[tuple[str, str, int], tuple] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    method = method if method in METHODS else "other"  # the client picks it: keep the label set bounded
    series = _REQUEST_SERIES.get((route, method, status))
    if series is None:
        series = _REQUEST_SERIES[route, method, status] = (
            HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method))
    series[0].inc()
    series[1].observe(seconds)


def delivery_outcome(status: str) -> str:
    """A delivery's status after an attempt, as the attempt's outcome."""
    return {"success": "success", "pending": "retry", "failed": "failed"}.get(status, status)


@dataclass
class Snapshot:
    """System-wide figures read at scrape time (see ``operations.status.snapshot``)."""

    queue_depth: dict[str, dict[str, int]]  # queue -> state -> jobs
    queue_workers: dict[str, int]
    oldest_due_delivery_age: float
    scheduler_last_pass: float | None  # unix time of the most recent pass of any scheduler
    scheduler_interval: float
    processor: dict  # calls at the processor: in_flight, overdue, oldest_age_s (storage.status.at_processor)
    streams: dict  # queue -> length, pending, consumers, oldest_pending_age_s (operations.status)


class _Collected:
    """Turns one Snapshot into gauge families for a per-scrape registry."""

    def __init__(self, snap: Snapshot):
        self.snap = snap

    def collect(self):
        snap = self.snap
        depth = GaugeMetricFamily("paygate_queue_depth", "Jobs in each queue by state, read at scrape time",
                                  labels=["queue", "state"])
        for queue, counts in snap.queue_depth.items():
            for state, n in counts.items():
                depth.add_metric([queue, state], n)
        yield depth
        workers = GaugeMetricFamily("paygate_queue_workers", "Workers connected to each queue, read at scrape time",
                                    labels=["queue"])
        for queue, n in snap.queue_workers.items():
            workers.add_metric([queue], n)
        yield workers
        yield GaugeMetricFamily("paygate_webhook_oldest_due_age_seconds",
                                "How long the oldest due webhook delivery has been waiting (0: none due)",
                                value=snap.oldest_due_delivery_age)
        lag = GaugeMetricFamily("paygate_scheduler_lag_seconds",
                                "How far the most recent scheduler pass anywhere is behind scheduler.interval "
                                "(0: on time; absent: no scheduler has run)")
        if snap.scheduler_last_pass is not None:
            late = time.time() - snap.scheduler_last_pass - snap.scheduler_interval
            lag.add_metric([], max(0.0, late))
        yield lag
        for name, key, text in (
                ("paygate_stream_length", "length", "Entries in each work stream: waiting or being handled"),
                ("paygate_stream_pending", "pending", "Entries read by a worker and not yet finished"),
                ("paygate_stream_consumers", "consumers", "Consumers in each stream's group"),
                ("paygate_stream_oldest_pending_age_seconds", "oldest_pending_age_s",
                 "How long the oldest entry read and not yet finished has been (0: none)")):
            family = GaugeMetricFamily(name, text, labels=["queue"])
            for queue, state in snap.streams.items():
                family.add_metric([queue], state[key])
            yield family
        calls = GaugeMetricFamily("paygate_processor_calls_in_flight",
                                  "Payments and refunds whose processor call is under way or unanswered; overdue: "
                                  "for longer than payments.stuck_after (answer lost, or worker stopped)",
                                  labels=["age"])
        calls.add_metric(["any"], snap.processor["in_flight"])
        calls.add_metric(["overdue"], snap.processor["overdue"])
        yield calls
        yield GaugeMetricFamily("paygate_processor_oldest_in_flight_age_seconds",
                                "How long the oldest call still in flight at the processor has been (0: none)",
                                value=snap.processor["oldest_age_s"])


def exposition(snap: Snapshot | None) -> bytes:
    """The /metrics body: every process's counters (all of them under multi-process serving), then ``snap``
    (left out when it could not be read)."""
    if os.environ.get(MULTIPROC_ENV):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    body = generate_latest(counted)
    if snap is not None:
        scraped = CollectorRegistry(auto_describe=False)
        scraped.register(_Collected(snap))
        body += generate_latest(scraped)
    return body


def mark_process_dead(pid: int) -> None:
    """Called by the serving parent when a child exits: its live gauges go (counters stay, as they should)."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)
