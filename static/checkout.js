/*! paygate checkout.js: opens paygate's hosted checkout in a modal on the merchant's page.
 * Plain JavaScript, no dependencies, talks to no host but the one it was loaded from.
 *
 *   <script src="https://pay.example.com/checkout.js"></script>
 *   new PaymentGateway({key, orderId, onSuccess, onFailure, onClose,
 *                       prefill: {name, email, contact, vpa}, theme: {color: "#4f46e5"}}).open();
 *
 * onSuccess({payment_id, order_id, signature}): verify signature on your server, it is
 *   hex HMAC-SHA256(api_secret, order_id + "|" + payment_id). The modal closes by itself.
 * onFailure({payment_id, order_id, error_code, error_description}): every failed attempt;
 *   the modal stays open so the shopper can retry.
 * onClose(): the modal was closed without a successful payment (close button, Escape, close()).
 */
(function (window, document) {
  "use strict";
  if (window.PaymentGateway && window.PaymentGateway.paygate) return; // loaded twice: keep the first

  // paygate's address is wherever this file came from: never guessed, never hard-coded.
  var script = document.currentScript;
  if (!script || !script.src) {
    var all = document.querySelectorAll("script[src*='checkout.js']");
    script = all[all.length - 1];
  }
  var CHECKOUT_URL = new URL("checkout", script ? script.src : window.location.href);
  var ORIGIN = CHECKOUT_URL.origin;
  var TOP_Z = "2147483647";
  var COLOR = /^#[0-9a-fA-F]{6}$/;
  var SVG = "http://www.w3.org/2000/svg";
  var active = null; // at most one modal on a page

  // Every element gets all:initial plus its own declarations, inline and !important: an inline
  // !important declaration outranks anything a page's stylesheet can say, so the merchant's CSS
  // (or a hostile rule such as `iframe {width: 1px !important}`) cannot reach the modal.
  function styled(tag, props, ns) {
    var el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    restyle(el, props, true);
    return el;
  }

  function restyle(el, props, reset) {
    if (reset) el.style.setProperty("all", "initial", "important");
    for (var name in props) el.style.setProperty(name, props[name], "important");
  }

  function call(fn, arg) {
    if (typeof fn !== "function") return;
    try {
      fn(arg);
    } catch (err) {
      // The merchant's callback failed: report it without breaking the checkout.
      setTimeout(function () { throw err; });
    }
  }

  function text(value) {
    return typeof value === "string" ? value : null;
  }

  function PaymentGateway(options) {
    if (!(this instanceof PaymentGateway)) return new PaymentGateway(options);
    options = options || {};
    if (typeof options.key !== "string" || !options.key) {
      throw new TypeError("PaymentGateway: options.key is required");
    }
    if (typeof options.orderId !== "string" || !options.orderId) {
      throw new TypeError("PaymentGateway: options.orderId is required");
    }
    this.options = options;
    this._host = null;
    this._onMessage = this._onMessage.bind(this);
    this._onResize = this._layout.bind(this);
  }

  PaymentGateway.paygate = true;

  PaymentGateway.prototype.checkoutUrl = function () {
    var o = this.options;
    var url = new URL(CHECKOUT_URL.href);
    var q = url.searchParams;
    q.set("order_id", o.orderId);
    q.set("key", o.key);
    // The hosted page answers only to this exact origin ("null" pages, e.g. file://, get no messages).
    if (window.location.origin && window.location.origin !== "null") q.set("origin", window.location.origin);
    var prefill = o.prefill || {};
    ["name", "email", "contact", "vpa"].forEach(function (k) {
      if (prefill[k] != null && prefill[k] !== "") q.set(k, String(prefill[k]));
    });
    if (o.theme && COLOR.test(o.theme.color || "")) q.set("color", o.theme.color);
    return url.href;
  };

  PaymentGateway.prototype.open = function () {
    if (active && !active._host.isConnected) active._teardown(); // the page removed it behind our back
    if (active) return this; // one modal: opening again, from any instance, changes nothing
    active = this;
    this._done = false;
    var self = this;

    var host = styled("paygate-checkout", {display: "block", position: "fixed", top: "0", left: "0",
      width: "100vw", height: "100vh", "z-index": TOP_Z, visibility: "visible", opacity: "1"});
    host.setAttribute("data-test-id", "payment-modal");

    // A modal <dialog> sits in the browser's top layer: above every z-index, unaffected by the
    // page's transforms or overflow, with the page behind it inert (focus stays in the checkout).
    var dialog = styled("dialog", {display: "flex", position: "fixed", top: "0", left: "0", right: "0",
      bottom: "0", width: "100%", height: "100%", "max-width": "none", "max-height": "none", margin: "0",
      padding: "0", border: "0", "box-sizing": "border-box", "align-items": "center",
      "justify-content": "center", background: "rgba(15, 23, 42, 0.6)", "z-index": TOP_Z,
      visibility: "visible", opacity: "1", overflow: "hidden"});
    dialog.setAttribute("aria-label", "Checkout");

    var panel = styled("div", {display: "block", position: "relative", overflow: "hidden",
      background: "#ffffff", "box-sizing": "border-box", visibility: "visible", opacity: "1"});

    // The spinner alone skips all:initial: an !important `all` outranks the animation's transform.
    var spinner = document.createElement("div");
    restyle(spinner, {display: "block", position: "absolute", top: "50%", left: "50%", width: "32px",
      height: "32px", margin: "-16px 0 0 -16px", padding: "0", "box-sizing": "border-box",
      border: "3px solid #e2e8f0", "border-top-color": "#64748b", "border-radius": "50%",
      background: "none", opacity: "1", visibility: "visible"});
    if (spinner.animate) {
      spinner.animate([{transform: "rotate(0deg)"}, {transform: "rotate(360deg)"}],
        {duration: 800, iterations: Infinity});
    }

    var iframe = styled("iframe", {display: "block", position: "relative", width: "100%", height: "100%",
      border: "0", margin: "0", padding: "0", background: "transparent", "color-scheme": "normal",
      visibility: "visible", opacity: "1"});
    iframe.setAttribute("data-test-id", "payment-iframe");
    iframe.setAttribute("title", "Secure checkout");
    iframe.setAttribute("allow", "payment");
    iframe.src = this.checkoutUrl();

    var close = styled("button", {display: "flex", position: "absolute", top: "10px", right: "10px",
      width: "44px", height: "44px", "align-items": "center", "justify-content": "center", padding: "0",
      margin: "0", border: "0", "border-radius": "50%", background: "rgba(241, 245, 249, 0.92)",
      color: "#334155", cursor: "pointer", "z-index": "1", visibility: "visible", opacity: "1"});
    close.type = "button";
    close.setAttribute("data-test-id", "close-modal-button");
    close.setAttribute("aria-label", "Close checkout");
    var icon = styled("svg", {display: "block", width: "18px", height: "18px", overflow: "visible"}, SVG);
    icon.setAttribute("viewBox", "0 0 18 18");
    icon.setAttribute("aria-hidden", "true");
    var cross = "M3 3l12 12M15 3L3 15";
    // `d` is a CSS property too, so all:initial would erase the attribute's drawing.
    var path = styled("path", {d: "path('" + cross + "')", fill: "none", stroke: "currentcolor",
      "stroke-width": "2", "stroke-linecap": "round"}, SVG);
    path.setAttribute("d", cross);
    icon.appendChild(path);
    close.appendChild(icon);
    // Inline styles cannot say :hover or :focus-visible, so the button follows them by hand.
    function paint() {
      var focused = close.matches(":focus-visible");
      restyle(close, {
        background: close.matches(":hover") ? "#e2e8f0" : "rgba(241, 245, 249, 0.92)",
        outline: focused ? "3px solid #2563eb" : "none", "outline-offset": "2px",
      });
    }
    ["mouseenter", "mouseleave", "focus", "blur"].forEach(function (name) { close.addEventListener(name, paint); });
    close.addEventListener("click", function () { self.close(); });

    // The shopper pressed Escape while focus was on this page (inside the iframe, the hosted
    // page sends "close" instead). The dialog never closes itself: close() tears it down.
    dialog.addEventListener("cancel", function (event) {
      event.preventDefault();
      self.close();
    });
    dialog.addEventListener("close", function () { if (self._host === host) self.close(); });

    // The iframe comes before the button so focus lands in the checkout first; the button is
    // still drawn on top (absolute, z-index 1).
    panel.appendChild(spinner);
    panel.appendChild(iframe);
    panel.appendChild(close);
    dialog.appendChild(panel);
    host.appendChild(dialog);
    (document.body || document.documentElement).appendChild(host);

    this._host = host;
    this._dialog = dialog;
    this._panel = panel;
    this._iframe = iframe;
    this._spinner = spinner;
    this._overflow = document.documentElement.style.getPropertyValue("overflow");
    this._overflowPriority = document.documentElement.style.getPropertyPriority("overflow");
    document.documentElement.style.setProperty("overflow", "hidden", "important"); // no scrolling behind the modal

    window.addEventListener("message", this._onMessage);
    window.addEventListener("resize", this._onResize);
    this._layout();
    try {
      dialog.showModal();
    } catch (err) {
      dialog.setAttribute("open", ""); // not modal, but the fixed overlay still covers the page
    }
    iframe.focus();
    return this;
  };

  // Phones and short windows get the whole screen; larger ones a centred card.
  PaymentGateway.prototype._layout = function () {
    if (!this._panel) return;
    var full = window.innerWidth < 520 || window.innerHeight < 560;
    restyle(this._panel, full
      ? {width: "100%", height: "100%", "max-width": "none", "border-radius": "0", "box-shadow": "none"}
      : {width: "440px", height: "min(640px, calc(100% - 48px))", "max-width": "calc(100% - 32px)",
        "border-radius": "16px", "box-shadow": "0 24px 64px rgba(15, 23, 42, 0.35)"});
  };

  PaymentGateway.prototype._onMessage = function (event) {
    // Only the hosted page in our own iframe may speak: same origin AND the same window.
    if (!this._iframe || event.origin !== ORIGIN || event.source !== this._iframe.contentWindow) return;
    var data = event.data;
    if (!data || typeof data !== "object" || data.source !== "paygate") return;
    if (data.order_id != null && data.order_id !== this.options.orderId) return;
    var self = this;
    if (data.type === "ready") {
      if (this._spinner) this._spinner.remove();
    } else if (data.type === "success") {
      if (this._done) return;
      this._done = true;
      call(this.options.onSuccess, {
        payment_id: text(data.payment_id), order_id: text(data.order_id), signature: text(data.signature),
      });
      // Let the shopper see the success state for a moment, then get out of the way.
      var host = this._host;
      setTimeout(function () { if (self._host === host) self._teardown(); }, 1500);
    } else if (data.type === "failure") {
      if (this._done) return;
      call(this.options.onFailure, {
        payment_id: text(data.payment_id), order_id: text(data.order_id),
        error_code: text(data.error_code), error_description: text(data.error_description),
      });
    } else if (data.type === "close") {
      this.close();
    }
  };

  PaymentGateway.prototype._teardown = function () {
    if (!this._host) return false;
    window.removeEventListener("message", this._onMessage);
    window.removeEventListener("resize", this._onResize);
    var host = this._host;
    this._host = this._dialog = this._panel = this._iframe = this._spinner = null;
    if (active === this) active = null;
    document.documentElement.style.setProperty("overflow", this._overflow, this._overflowPriority);
    host.remove();
    return true;
  };

  // Close the modal; onClose fires unless the payment already succeeded.
  PaymentGateway.prototype.close = function () {
    var paid = this._done;
    if (this._teardown() && !paid) call(this.options.onClose);
    return this;
  };

  window.PaymentGateway = PaymentGateway;
})(window, document);
