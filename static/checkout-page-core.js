/* paygate hosted checkout, part 1 of 4 (checkout.html loads them in order, all `defer`):
 * the URL parameters, messages to checkout.js, the theme, API calls and the page states.
 * See checkout-page.js for the page as a whole. The parts share one object, window.PaygateCheckout.
 */
(function () {
  "use strict";

  var ns = window.PaygateCheckout = window.PaygateCheckout || {};

  var COLOR = /^#[0-9a-fA-F]{6}$/;

  var params = new URLSearchParams(window.location.search);
  var framed = window.parent !== window;
  var parentOrigin = framed ? originParam(params.get("origin")) : null;
  var callbackUrl = framed ? null : callbackParam(params.get("callback_url"));

  var $ = function (id) { return document.getElementById(id); };
  var form = $("pay-form");

  document.documentElement.classList.toggle("framed", framed);
  applyTheme(params.get("color"));

  // ---- messages to checkout.js -------------------------------------------------------------

  function originParam(value) {
    try {
      var url = new URL(value);
      return (url.protocol === "https:" || url.protocol === "http:") && url.origin === value ? value : null;
    } catch (err) {
      return null;
    }
  }

  function callbackParam(value) {
    if (!value) return null;
    try {
      var url = new URL(value, window.location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url : null; // never javascript:
    } catch (err) {
      return null;
    }
  }

  function post(message) {
    if (!parentOrigin) return; // framed by someone who did not say who they are: tell nobody
    message.source = "paygate";
    window.parent.postMessage(message, parentOrigin);
  }

  // ---- theme -------------------------------------------------------------------------------

  function applyTheme(color) {
    if (!COLOR.test(color || "")) return;
    var rgb = [1, 3, 5].map(function (i) { return parseInt(color.slice(i, i + 2), 16); });
    var lum = luminance(rgb);
    var style = document.documentElement.style;
    style.setProperty("--accent", color);
    style.setProperty("--accent-soft", "rgba(" + rgb.join(", ") + ", 0.12)");
    style.setProperty("--on-accent", lum > 0.4 ? "#0f172a" : "#ffffff");
    // A pale theme colour is no focus ring on white: fall back to dark ink (contrast >= 3:1).
    style.setProperty("--ring", 1.05 / (lum + 0.05) >= 3 ? color : "#0f172a");
  }

  function luminance(rgb) {
    var c = rgb.map(function (v) {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
    });
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
  }

  // ---- API ---------------------------------------------------------------------------------

  function api(path, options) {
    // Relative to this page, so paygate may live under a path prefix.
    return fetch(new URL(path, document.baseURI), options).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (body) {
        return {status: resp.status, body: body || {}};
      });
    });
  }

  function q(value) {
    return encodeURIComponent(value);
  }

  // ---- page states -------------------------------------------------------------------------

  function show(id) {
    ["processing", "success", "failure"].forEach(function (state) { $(state).hidden = state !== id; });
    if (form.isConnected) form.hidden = id !== "form";
  }

  function pageError(message, info) {
    var box = $("error");
    box.textContent = message;
    box.classList.toggle("info", !!info);
    box.hidden = !message;
  }

  // Nothing can be paid here: say why and take the form away.
  function fatal(message) {
    $("loading").hidden = true;
    $("checkout").setAttribute("aria-busy", "false");
    show(null);
    form.remove();
    pageError(message);
  }

  // The API's amount_display is the exact decimal; Intl adds the symbol and the grouping.
  function formatAmount(o) {
    var display = o.amount_display == null ? "" : String(o.amount_display);
    try {
      var digits = display.indexOf(".") < 0 ? 0 : display.length - display.indexOf(".") - 1;
      if (!display) {
        digits = new Intl.NumberFormat(undefined, {style: "currency", currency: o.currency})
          .resolvedOptions().maximumFractionDigits;
        display = o.amount / Math.pow(10, digits);
      }
      return new Intl.NumberFormat(undefined, {
        style: "currency", currency: o.currency, minimumFractionDigits: digits, maximumFractionDigits: digits,
      }).format(display);
    } catch (err) {
      return display + " " + o.currency;
    }
  }

  ns.params = params;
  ns.orderId = params.get("order_id") || "";
  ns.key = params.get("key") || "";
  ns.framed = framed;
  ns.callbackUrl = callbackUrl;
  ns.$ = $;
  ns.form = form;
  ns.post = post;
  ns.api = api;
  ns.q = q;
  ns.show = show;
  ns.pageError = pageError;
  ns.fatal = fatal;
  ns.formatAmount = formatAmount;
})();
