"""HTTP handlers: parse, call an operation, shape the answer. No SQL here.

Each module's ``routes`` are an ``endpoints.Endpoints``; AREAS lists them in the order the app adds their routes
and the OpenAPI document lists their operations."""

from . import (
         checkout,
         dashboard,
         docs,
         events,
         health,
         metrics,
         orders,
         payments,
         refunds,
         testing,
         webhook_endpoints,
         webhooks,
)

# The areas every app serves (test endpoints and metrics are added when switched on), in document order.
AREAS = (orders, payments, refunds, events, webhooks, webhook_endpoints, checkout, testing, docs, health, dashboard,
         metrics)
