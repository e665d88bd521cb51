"""Real Chromium for browser tests, and small local sites that play the merchant and an attacker.

Debian's chromium is driven through playwright's ``executable_path``: playwright's own browser
download is not possible here. Every site listens on 127.0.0.1; nothing leaves the machine.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
from pathlib import Path
from types import SimpleNamespace

from aiohttp import web
from playwright.async_api import Browser, Playwright, async_playwright, expect

from .conftest import free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
REPO_STATIC = Path(__file__).resolve().parent.parent / "static"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots" / "checkout"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


async def launch() -> tuple[Playwright, Browser]:
    playwright = await async_playwright().start()
    try:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except BaseException:
        await playwright.stop()
        raise
    return playwright, browser


async def open_page(browser, url: str, viewport=DESKTOP):
    """A fresh browser context on url; returns the page and a log of its requests and console errors."""
    context = await browser.new_context(viewport=viewport, locale="en-US")
    log = SimpleNamespace(requests=[], errors=[])
    context.on("request", lambda request: log.requests.append(request.url))
    page = await context.new_page()
    page.on("console", lambda message: message.type == "error" and log.errors.append(message.text))
    page.on("pageerror", lambda error: log.errors.append(str(error)))
    await page.goto(url)
    return page, log


# -- the dashboard, signed in as the seeded test merchant ---------------------------------------------------

KEY, SECRET = "key_test_abc123", "secret_test_xyz789"


def tid(name: str) -> str:
    return f"[data-test-id={name}]"


async def open_dashboard(browser, server, viewport=DESKTOP, path: str = "/dashboard/"):
    """A fresh browser context on the dashboard; returns the page and a log of requests and errors."""
    return await open_page(browser, server.base_url + path, viewport)


async def sign_in(page, key: str = KEY, secret: str = SECRET) -> None:
    await page.locator(tid("sign-in-key")).fill(key)
    await page.locator(tid("sign-in-secret")).fill(secret)
    await page.locator(tid("sign-in-button")).click()


async def signed_in(browser, server, viewport=DESKTOP, key: str = KEY, secret: str = SECRET):
    page, log = await open_dashboard(browser, server, viewport)
    await sign_in(page, key, secret)
    await expect(page.locator(tid("overview"))).to_be_visible()
    return page, log


async def goto(page, hash_path: str, ready: str) -> None:
    """Follow a dashboard link by its hash and wait for the page's own marker."""
    await page.evaluate("(h) => { location.hash = h; }", hash_path)
    await expect(page.locator(tid(ready))).to_be_visible()


def errors(log) -> list[str]:
    """Console errors, less Chromium's note on each 4xx answer the test asked for (wrong secret, 404…)."""
    return [e for e in log.errors if not re.fullmatch(r"Failed to load resource: the server responded with a "
                                                      r"status of 4\d\d .*", e)]


def screenshot_path(name: str) -> str:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return str(SCREENSHOTS / name)


def checkout_signature(secret: str, order_id: str, payment_id: str) -> str:
    """What a merchant's server computes to trust onSuccess: hex HMAC-SHA256(secret, order_id|payment_id)."""
    return hmac.new(secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


class Site:
    """A tiny aiohttp site on its own port of 127.0.0.1, so a different origin from paygate."""

    def __init__(self, app: web.Application):
        self.app = app
        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self._runner = web.AppRunner(app)

    async def start(self) -> Site:
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        await self._runner.cleanup()


# Rules a careless (or hostile) merchant stylesheet might carry. `body *` rather than `*`: hiding
# <html> itself would hide the merchant's whole page, modal or not.
HOSTILE_CSS = """
body * { display: none !important; visibility: hidden !important; }
div, dialog { opacity: 0 !important; }
iframe { width: 1px !important; height: 1px !important; border: 40px solid red !important; }
button { font-size: 0 !important; }
* { z-index: 0 !important; }
paygate-checkout, dialog, iframe, button { transform: scale(0.3) !important; filter: blur(4px) !important; }
body::after { content: ""; position: fixed; inset: 0; z-index: 2147483647; background: rgba(255, 0, 0, 0.6); }
"""

MERCHANT_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo Store</title>
<link rel="icon" href="data:,">
<style>
  body {{ margin: 0; font-family: Georgia, serif; background: #fdf6ec; color: #3b2f2f; }}
  .shop {{ max-width: 720px; margin: 0 auto; padding: 48px 24px; }}
  .product {{ background: #fff; border-radius: 8px; padding: 24px; box-shadow: 0 2px 8px rgba(0,0,0,.08); }}
  #buy {{ font: inherit; padding: 12px 28px; background: #8b4513; color: #fff; border: 0; border-radius: 4px; }}
</style>
{hostile}
<script src="{paygate}/checkout.js"></script>
</head>
<body>
<div class="shop">
  <h1>Demo Store</h1>
  <div class="product">
    <h2>Hand-thrown teapot</h2>
    <p>Order <code>{order_id_html}</code></p>
    <button id="buy" type="button">Buy now</button>
  </div>
</div>
<script>
  window.events = [];
  window.forgerDone = false;
  const config = {config};
  window.addEventListener("message", (event) => {{
    if (event.data && event.data.forger === "done") forgerDone = true;
  }});
  window.openCheckout = (extra) => {{
    const gateway = new PaymentGateway(Object.assign({{
      key: config.key,
      orderId: config.orderId,
      onSuccess: (data) => events.push({{type: "success", data}}),
      onFailure: (data) => events.push({{type: "failure", data}}),
      onClose: () => events.push({{type: "close"}}),
    }}, extra || {{}}));
    return gateway.open();
  }};
  // A third-origin frame that pretends to be paygate.
  window.startForger = () => {{
    const frame = document.createElement("iframe");
    frame.src = config.forger + "/forge?order_id=" + encodeURIComponent(config.orderId);
    document.body.appendChild(frame);
  }};
  document.getElementById("buy").addEventListener("click", () => openCheckout());
</script>
</body>
</html>
"""

FORGER_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>forger</title></head>
<body>
<script>
  const orderId = {order_id};
  const forged = [
    {{source: "paygate", type: "success", payment_id: "pay_forged", order_id: orderId, signature: "f".repeat(64)}},
    {{source: "paygate", type: "failure", payment_id: "pay_forged", order_id: orderId,
      error_code: "FORGED", error_description: "forged"}},
    {{source: "paygate", type: "close"}},
    {{source: "paygate", type: "ready"}},
  ];
  let rounds = 0;
  const timer = setInterval(() => {{
    for (const message of forged) parent.postMessage(message, "*");
    if (++rounds === 10) {{
      clearInterval(timer);
      parent.postMessage({{forger: "done"}}, "*");
    }}
  }}, 30);
</script>
</body></html>
"""


def merchant_site(paygate_url: str, forger_origin: str = "") -> Site:
    """The merchant's shop: /?order_id=…[&key=…][&hostile=1] loads checkout.js from paygate."""

    async def shop(request: web.Request) -> web.Response:
        order_id = request.query.get("order_id", "")
        config = {"key": request.query.get("key", "key_test_abc123"), "orderId": order_id, "forger": forger_origin}
        page = MERCHANT_PAGE.format(
            paygate=html.escape(paygate_url),
            hostile=f"<style>{HOSTILE_CSS}</style>" if request.query.get("hostile") else "",
            order_id_html=html.escape(order_id),
            config=json.dumps(config).replace("<", "\\u003c"),
        )
        return web.Response(text=page, content_type="text/html")

    async def back(request: web.Request) -> web.Response:
        return web.Response(text="<!doctype html><title>Thanks</title><h1>Thanks for your order</h1>",
                            content_type="text/html")

    app = web.Application()
    app.router.add_get("/", shop)
    app.router.add_get("/return", back)
    return Site(app)


def forger_site() -> Site:
    """A third origin whose page posts paygate-shaped messages to whoever frames it."""

    async def forge(request: web.Request) -> web.Response:
        order_id = json.dumps(request.query.get("order_id", "")).replace("<", "\\u003c")
        return web.Response(text=FORGER_PAGE.format(order_id=order_id), content_type="text/html")

    app = web.Application()
    app.router.add_get("/forge", forge)
    return Site(app)
