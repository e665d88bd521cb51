"""Reads of a merchant's objects: filtered, paginated lists and single events.

A list's rows are as ``storage.page`` fetched them: one beyond the limit when more follow, which the HTTP answer
turns into ``has_more`` (``storage.trim``). Its params are ``list_query``'s, its ``offset`` a count or a cursor's
``storage.Anchor``."""

from __future__ import annotations

from ...infra.errors import no_such
from ...storage import events, orders, payments, refunds, webhooks
from ...storage.db import cursor
from .. import models
from ..services import Services


async def list_orders(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        return await orders.list_page(cur, merchant["id"], **params)


async def list_payments(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        return await payments.list_page(cur, merchant["id"], **params)


async def list_refunds(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        return await refunds.list_page(cur, merchant["id"], **params)


async def list_deliveries(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        return await webhooks.list_page(cur, merchant["id"], **params)


async def list_events(services: Services, merchant: dict, params: dict) -> tuple[list[dict], int]:
    async with cursor(services.pool) as cur:
        return await events.list_page(cur, merchant["id"], **params)


async def get_event(services: Services, merchant: dict, event_id: str) -> dict:
    async with cursor(services.pool) as cur:
        row = await events.get(cur, merchant["id"], event_id)
    if row is None:
        raise no_such("event", event_id)
    return models.Event.view(row)
