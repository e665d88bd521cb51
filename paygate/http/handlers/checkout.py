"""The public checkout: the hosted page, checkout.js, and the key-only endpoints they call."""

from __future__ import annotations

from aiohttp import web

from ...core import schemas
from ...core.operations import checkout as ops
from ...core.processors import testcards
from ...core.schemas import CheckoutPaymentCreate
from ...infra.errors import PaygateError
from ...infra.resources import static_dir
from .. import api_models as a
from .. import appkeys
from ..endpoints import API, BODY, IDEMPOTENT, ORDER_ID, PAYMENT_ID, Endpoints, key_query
from .common import body, idempotent, object_id, respond, services

routes = Endpoints()

CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
    "Access-Control-Expose-Headers": "Idempotent-Replayed",
    "Access-Control-Max-Age": "600",
}
# The hosted page runs only its own code and talks only to paygate, but any merchant may frame it.
PAGE_POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; "
               "form-action 'self'; base-uri 'none'; frame-ancestors *")


@web.middleware
async def public_api(request: web.Request, handler):
    """CORS on every answer (errors included) and a per-IP rate limit for /api/v1/checkout/."""
    if not request.path.startswith(f"{API}/checkout/"):
        return await handler(request)
    if request.method == "OPTIONS":
        return web.Response(status=204, headers=CORS)
    try:
        # Status polls have their own, larger allowance, so waiting for a result does not use up paying.
        polling = request.method == "GET" and request.path.startswith(f"{API}/checkout/payments/")
        await request.app[appkeys.RATE_LIMITER].check("checkout-status" if polling else "checkout",
                                                      request.remote or "unknown")
        response = await handler(request)
    except (PaygateError, web.HTTPException) as exc:
        exc.headers.update(CORS)  # the error middleware, outside this one, shapes the answer with them
        raise
    response.headers.update(CORS)
    return response


def _static(name: str, content_type: str, headers: dict | None = None):
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(static_dir() / name, headers={
            "Content-Type": content_type, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            **(headers or {})})

    return serve


routes.get("/checkout.js")(_static("checkout.js", "text/javascript; charset=utf-8",
                                   {"Access-Control-Allow-Origin": "*"}))
routes.get("/checkout")(_static("checkout.html", "text/html; charset=utf-8", {"Content-Security-Policy": PAGE_POLICY}))
routes.get("/checkout.css")(_static("checkout.css", "text/css; charset=utf-8"))
routes.get("/checkout-page-core.js")(_static("checkout-page-core.js", "text/javascript; charset=utf-8"))
routes.get("/checkout-page-fields.js")(_static("checkout-page-fields.js", "text/javascript; charset=utf-8"))
routes.get("/checkout-page-method.js")(_static("checkout-page-method.js", "text/javascript; charset=utf-8"))
routes.get("/checkout-page.js")(_static("checkout-page.js", "text/javascript; charset=utf-8"))


@routes.operation(
    "GET", f"{API}/checkout/orders/{{id}}", "getCheckoutOrder", "Read an order for checkout",
    "What the hosted page shows: amount, merchant name, whether it can still be paid; with a test "
    "key (`key_test_…`), also `test_instruments`, the simulator's test cards and UPI ids.", "Checkout",
    "public", 200, a.CheckoutOrder, (404, 429),
    {"order": {"id": ORDER_ID, "amount": 50000, "currency": "INR", "amount_display": "500.00",
               "status": "created"}, "merchant": {"name": "Test Merchant"}, "payable": True,
     "test_instruments": testcards.as_json()},
    query=(key_query("order"),))
async def order(request: web.Request) -> web.Response:
    return respond(await ops.order_for_checkout(services(request), request.query.get("key"),
                                                object_id(request, "order")))


@routes.operation(
    "POST", f"{API}/checkout/payments", "createCheckoutPayment", "Pay an order from checkout",
    "The key travels in the body; amount and currency are the order's. Answers status only.",
    "Checkout", "public", 201, a.CheckoutPayment, (*BODY, 404, 429, *IDEMPOTENT),
    {"id": PAYMENT_ID, "order_id": ORDER_ID, "status": "pending", "method": "upi"},
    schemas.CheckoutPaymentCreate,
    {"key": "key_test_abc123", "order_id": ORDER_ID, "method": "upi", "vpa": "success@paygate"})
async def pay(request: web.Request) -> web.Response:
    """Under the page's per-attempt Idempotency-Key (optional), claimed for the merchant owning ``key``."""
    svc = services(request)
    payment = await body(request, CheckoutPaymentCreate)
    merchant = await ops.merchant_for_key(svc, payment.key)
    return await idempotent(request, merchant, 201, lambda receipt: ops.pay(svc, merchant, payment, receipt))


@routes.operation(
    "GET", f"{API}/checkout/payments/{{id}}", "getCheckoutPayment", "Poll a checkout payment",
    "Status only; on success, a signature the merchant's server verifies with its API secret.",
    "Checkout", "public", 200, a.CheckoutPaymentStatus, (404, 429),
    {"id": PAYMENT_ID, "order_id": ORDER_ID, "status": "success", "method": "upi",
     "error_code": None, "error_description": None,
     "signature": "5d1f0c3b9a7e2d4c6b8a0f1e3d5c7b9a2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c"},
    query=(key_query("payment"),))
async def payment(request: web.Request) -> web.Response:
    return respond(await ops.payment_status(services(request), request.query.get("key"), object_id(request, "pay")))
