"""The public checkout: the hosted page, checkout.js, and the key-only endpoints they call."""

from __future__ import annotations

from aiohttp import web

from ...core.operations import checkout as ops
from ...core.schemas import CheckoutPaymentCreate
from ...infra.errors import PaygateError
from ...infra.resources import static_dir
from .. import appkeys
from .common import API, body, idempotent, object_id, respond, services

routes = web.RouteTableDef()

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
routes.get("/checkout-page.js")(_static("checkout-page.js", "text/javascript; charset=utf-8"))


@routes.get(f"{API}/checkout/orders/{{id}}")
async def order(request: web.Request) -> web.Response:
    return respond(await ops.order_for_checkout(services(request), request.query.get("key"),
                                                object_id(request, "order")))


@routes.post(f"{API}/checkout/payments")
async def pay(request: web.Request) -> web.Response:
    """Under the page's per-attempt Idempotency-Key (optional), claimed for the merchant owning ``key``."""
    svc = services(request)
    payment = await body(request, CheckoutPaymentCreate)
    merchant = await ops.merchant_for_key(svc, payment.key)
    return await idempotent(request, merchant, 201, lambda receipt: ops.pay(svc, merchant, payment, receipt))


@routes.get(f"{API}/checkout/payments/{{id}}")
async def payment(request: web.Request) -> web.Response:
    return respond(await ops.payment_status(services(request), request.query.get("key"), object_id(request, "pay")))
