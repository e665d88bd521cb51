/* paygate hosted checkout:
 *   /checkout?order_id=…&key=…[&origin=…][&callback_url=…][&name=&email=&contact=&vpa=][&color=%23RRGGBB]
 *
 * Each payment attempt is sent under its own Idempotency-Key, so a double click, a duplicated
 * request or a retry of the same attempt makes one payment (see startPayment).
 *
 * Framed by checkout.js it reports to the parent with postMessage, addressed to exactly the
 * `origin` parameter (and to nobody when there is none). Standalone it redirects to
 * callback_url with payment_id, order_id and signature appended after a successful payment.
 */
(function () {
  "use strict";

  var POLL_MS = 500;
  var SLOW_MS = 30000;
  var IN_FLIGHT_TRIES = 10; // answers of "this attempt is still being processed" to wait through
  var VPA = /^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$/; // as paygate/cards.py
  var COLOR = /^#[0-9a-fA-F]{6}$/;
  var NETWORKS = [ // [pattern, label]; display only, the server decides what it accepts
    [/^3[47]/, "AMEX"], [/^4/, "VISA"], [/^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))/, "MASTERCARD"],
    [/^(508|60|65(21|22)|8[12]|35[36])/, "RUPAY"], [/^(6011|64[4-9]|65)/, "DISCOVER"],
    [/^(36|30[0-5]|3[89])/, "DINERS"], [/^35/, "JCB"], [/^(5[06-8]|6304|6759|67677[04])/, "MAESTRO"],
  ];

  var params = new URLSearchParams(window.location.search);
  var orderId = params.get("order_id") || "";
  var key = params.get("key") || "";
  var framed = window.parent !== window;
  var parentOrigin = framed ? originParam(params.get("origin")) : null;
  var callbackUrl = framed ? null : callbackParam(params.get("callback_url"));

  var $ = function (id) { return document.getElementById(id); };
  var form = $("pay-form");
  var payButton = $("pay-button");
  var fields = {
    "card-number": {inputs: [$("card-number")], check: checkNumber},
    "card-expiry": {inputs: [$("card-exp-month"), $("card-exp-year")], check: checkExpiry},
    "card-cvv": {inputs: [$("card-cvv")], check: checkCvv},
    "card-name": {inputs: [$("card-name")], check: checkName},
    "vpa": {inputs: [$("vpa")], check: checkVpa},
  };
  var METHOD_FIELDS = {card: ["card-number", "card-expiry", "card-cvv", "card-name"], upi: ["vpa"]};
  var SERVER_FIELDS = {
    "card.number": "card-number", "card.expiry_month": "card-expiry", "card.expiry_year": "card-expiry",
    "card.cvv": "card-cvv", "card.name": "card-name", "vpa": "vpa",
  };
  var SERVER_MESSAGES = {
    "card-number": "This card number was not accepted. Check it, or try another card.",
    "card-expiry": "Check the expiry date.",
    "card-cvv": "Check the security code.",
    "card-name": "Check the name on the card.",
    "vpa": "This UPI ID was not accepted. Check it and try again.",
  };

  var order = null;
  var merchantName = "";
  var amountText = "";
  var method = "card";
  var busy = false;
  var attempt = null; // {key, body}: the attempt under way, until it fails, is refused or its details change
  var paymentId = null;
  var pollStarted = 0;

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

  function load() {
    if (!orderId || !key) {
      fatal("This checkout link is incomplete. Go back to the store and start the payment again.");
      post({type: "ready"});
      return;
    }
    api("api/v1/checkout/orders/" + q(orderId) + "?key=" + q(key)).then(function (r) {
      if (r.status === 404) {
        fatal("We couldn't find this order. The link may be wrong or out of date; go back to the store and try again.");
      } else if (r.status !== 200 || !r.body.order) {
        fatal("Checkout could not load right now. Please reload the page in a moment.");
      } else {
        render(r.body);
      }
    }, function () {
      fatal("We couldn't reach the payment server. Check your connection and reload the page.");
    }).then(function () { post({type: "ready"}); });
  }

  function render(data) {
    order = data.order;
    merchantName = (data.merchant && data.merchant.name) || "";
    amountText = formatAmount(order);
    $("summary").hidden = false;
    $("merchant").textContent = merchantName;
    $("amount").textContent = amountText;
    document.title = merchantName ? "Pay " + merchantName : "Checkout";
    $("test-mode").hidden = key.indexOf("key_test_") !== 0;
    showTestCards(data.test_instruments);
    var payer = [params.get("email"), params.get("contact")].filter(Boolean).join(" · ");
    $("payer").textContent = payer;
    $("payer").hidden = !payer;
    $("loading").hidden = true;
    $("checkout").setAttribute("aria-busy", "false");
    if (data.payable === false || order.status === "paid") {
      alreadyPaid();
      return;
    }
    $("card-name").value = params.get("name") || "";
    $("vpa").value = params.get("vpa") || "";
    payButton.textContent = "Pay " + amountText;
    show("form");
    if (framed && window.matchMedia("(pointer: fine)").matches) $("card-number").focus();
  }

  function alreadyPaid() {
    fatal("This order has already been paid. There is nothing more to pay.");
    $("error").classList.add("info");
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

  // ---- test mode: the simulator's test cards and UPI ids ------------------------------------
  // The list comes with the order, and only for a test key, from paygate's one table of them.

  function showTestCards(instruments) {
    if (!Array.isArray(instruments) || !instruments.length) return;
    var list = $("test-card-list");
    instruments.forEach(function (t) {
      var value = document.createElement("span");
      value.className = "test-card-value";
      value.textContent = t.method === "card" ? groupCard(t.value) : t.value;
      var outcome = document.createElement("span");
      outcome.className = "test-card-outcome";
      outcome.textContent = t.outcome + (t.error_code ? " · " + t.error_code : "");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "test-card";
      button.setAttribute("data-test-id", "test-card-" + t.value);
      button.append(value, outcome);
      button.addEventListener("click", function () { useTestInstrument(t); });
      var item = document.createElement("li");
      item.append(button);
      list.append(item);
    });
    $("test-cards").hidden = false;
  }

  // Fill in the form as a shopper would, so that only Pay is left to press.
  function useTestInstrument(t) {
    selectMethod(t.method, false);
    if (t.method === "upi") {
      $("vpa").value = t.value;
    } else {
      numberInput.value = t.value;
      numberInput.dispatchEvent(new Event("input")); // grouping and brand, as when typed
      monthInput.value = "12";
      yearInput.value = ("0" + ((new Date().getFullYear() + 3) % 100)).slice(-2);
      cvvInput.value = isAmex(t.value) ? "1234" : "123";
      if (!$("card-name").value.trim()) $("card-name").value = "Test Shopper";
    }
    METHOD_FIELDS[t.method].forEach(function (name) { setFieldError(name, ""); });
    payButton.focus();
  }

  // ---- method tabs (WAI-ARIA tabs, automatic activation) -----------------------------------

  var tabs = Array.prototype.slice.call(document.querySelectorAll("[role=tab]"));

  function selectMethod(next, focusTab) {
    method = next;
    tabs.forEach(function (tab) {
      var selected = tab.getAttribute("data-method") === next;
      tab.setAttribute("aria-selected", String(selected));
      tab.tabIndex = selected ? 0 : -1;
      $(tab.getAttribute("aria-controls")).hidden = !selected;
      if (selected && focusTab) tab.focus();
    });
    pageError("");
  }

  tabs.forEach(function (tab, i) {
    tab.addEventListener("click", function () { selectMethod(tab.getAttribute("data-method"), false); });
    tab.addEventListener("keydown", function (event) {
      var to = {ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: -1}[event.key];
      if (to === undefined) return;
      event.preventDefault();
      var next = tabs[(to + tabs.length) % tabs.length];
      selectMethod(next.getAttribute("data-method"), true);
    });
  });

  // ---- card input helpers ------------------------------------------------------------------

  function digitsOf(value) {
    return value.replace(/\D/g, "");
  }

  function isAmex(digits) {
    return /^3[47]/.test(digits);
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var d = +digits[digits.length - 1 - i];
      if (i % 2) d = d > 4 ? d * 2 - 9 : d * 2;
      sum += d;
    }
    return sum % 10 === 0;
  }

  function groupCard(digits) {
    if (isAmex(digits)) { // 4-6-5, as printed on the card
      return [digits.slice(0, 4), digits.slice(4, 10), digits.slice(10, 15)].filter(Boolean).join(" ");
    }
    return digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  }

  // Rewrite an input's value, keeping the caret after the same number of digits.
  function reformat(input, value) {
    if (input.value === value) return;
    var caret = input.selectionStart == null ? input.value.length : input.selectionStart;
    var before = digitsOf(input.value.slice(0, caret)).length;
    input.value = value;
    if (document.activeElement !== input) return;
    var pos = 0;
    for (var seen = 0; pos < value.length && seen < before; pos++) if (/\d/.test(value[pos])) seen++;
    input.setSelectionRange(pos, pos);
  }

  var numberInput = $("card-number");
  var monthInput = $("card-exp-month");
  var yearInput = $("card-exp-year");
  var cvvInput = $("card-cvv");

  numberInput.addEventListener("input", function () {
    var digits = digitsOf(numberInput.value);
    digits = digits.slice(0, isAmex(digits) ? 15 : 19);
    reformat(numberInput, groupCard(digits));
    var network = NETWORKS.filter(function (n) { return n[0].test(digits); })[0];
    $("card-brand").textContent = digits.length ? (network ? network[1] : "") : "";
    cvvInput.placeholder = isAmex(digits) ? "1234" : "123";
  });
  monthInput.addEventListener("input", function (event) {
    var digits = digitsOf(monthInput.value).slice(0, 2);
    var typed = event.inputType === "insertText";
    if (typed && digits.length === 1 && digits > "1") digits = "0" + digits; // "4" can only mean April
    reformat(monthInput, digits);
    if (typed && digits.length === 2) yearInput.focus();
  });
  [yearInput, cvvInput].forEach(function (input) {
    input.addEventListener("input", function () { reformat(input, digitsOf(input.value).slice(0, 4)); });
  });

  // ---- validation --------------------------------------------------------------------------
  // Each check returns null, or [message, inputs to mark invalid].

  function checkNumber() {
    var raw = numberInput.value.trim();
    var digits = digitsOf(raw);
    if (!raw) return ["Enter your card number."];
    if (/[^\d\s-]/.test(raw) || digits.length < 12 || digits.length > 19 || !luhn(digits)) {
      return ["This card number isn't valid. Check it for typos."];
    }
    return null;
  }

  function expiry() {
    var month = /^\d{1,2}$/.test(monthInput.value) ? +monthInput.value : 0;
    var year = yearInput.value;
    year = /^\d{2}$/.test(year) ? 2000 + +year : /^20\d{2}$/.test(year) ? +year : 0;
    return {month: month >= 1 && month <= 12 ? month : 0, year: year};
  }

  function checkExpiry() {
    if (!monthInput.value && !yearInput.value) return ["Enter the expiry date.", [monthInput, yearInput]];
    var e = expiry();
    if (!e.month) return ["Month must be 01–12.", [monthInput]];
    if (!e.year) return ["Enter a valid year.", [yearInput]];
    var now = new Date();
    if (e.year < now.getFullYear()) return ["This card has expired.", [yearInput]];
    if (e.year === now.getFullYear() && e.month < now.getMonth() + 1) {
      return ["This card has expired.", [monthInput, yearInput]];
    }
    return null;
  }

  function checkCvv() {
    var want = isAmex(digitsOf(numberInput.value)) ? 4 : 3;
    if (!cvvInput.value) return ["Enter the CVV."];
    if (!/^\d+$/.test(cvvInput.value) || cvvInput.value.length !== want) return ["Enter all " + want + " digits."];
    return null;
  }

  function checkName() {
    return $("card-name").value.trim() ? null : ["Enter the name on the card."];
  }

  function checkVpa() {
    var value = $("vpa").value.trim();
    if (!value) return ["Enter your UPI ID."];
    return VPA.test(value) ? null : ["Enter a UPI ID like name@bank."];
  }

  function setFieldError(name, message, invalid) {
    var field = fields[name];
    invalid = message ? invalid || field.inputs : [];
    field.inputs.forEach(function (input) {
      if (invalid.indexOf(input) >= 0) input.setAttribute("aria-invalid", "true");
      else input.removeAttribute("aria-invalid");
    });
    $("error-" + name).textContent = message || "";
    field.shown = !!message;
  }

  function validate(name) {
    var problem = fields[name].check();
    setFieldError(name, problem && problem[0], problem && problem[1]);
    return !problem;
  }

  // Quiet while typing; check a field when the shopper leaves it, and re-check a field that is
  // showing a message on every keystroke so the message goes as soon as it is fixed.
  Object.keys(fields).forEach(function (name) {
    var field = fields[name];
    field.inputs.forEach(function (input) {
      input.addEventListener("input", function () { if (field.shown) validate(name); });
      input.addEventListener("blur", function (event) {
        if (field.inputs.indexOf(event.relatedTarget) >= 0) return; // still inside this field
        if (field.shown || field.inputs.some(function (i) { return i.value; })) validate(name);
      });
    });
  });

  // ---- paying ------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    pageError("");
    var bad = METHOD_FIELDS[method].filter(function (name) { return !validate(name); });
    if (bad.length) {
      var first = fields[bad[0]].inputs.filter(function (i) { return i.getAttribute("aria-invalid"); })[0];
      (first || fields[bad[0]].inputs[0]).focus();
      return;
    }
    startPayment();
  });

  function paymentBody() {
    var body = {key: key, order_id: orderId, method: method};
    if (method === "upi") {
      body.vpa = $("vpa").value.trim();
    } else {
      var e = expiry();
      body.card = {
        number: digitsOf(numberInput.value), expiry_month: e.month, expiry_year: e.year,
        cvv: cvvInput.value, name: $("card-name").value.trim(),
      };
    }
    return body;
  }

  function setBusy(value) {
    busy = value;
    payButton.disabled = value;
    payButton.textContent = value ? "Starting payment…" : "Pay " + amountText;
  }

  // A random key per attempt: crypto.randomUUID where the page is a secure context, else 128 random bits.
  function newKey() {
    if (window.crypto.randomUUID) return window.crypto.randomUUID();
    var bytes = window.crypto.getRandomValues(new Uint8Array(16));
    return Array.prototype.map.call(bytes, function (b) { return (b < 16 ? "0" : "") + b.toString(16); }).join("");
  }

  // The same details send the same attempt again under its key (after a network error, or Pay pressed
  // again before an answer), so paygate makes at most one payment of it; new details are a new attempt.
  function startPayment() {
    var body = JSON.stringify(paymentBody());
    if (!attempt || attempt.body !== body) attempt = {key: newKey(), body: body};
    send(attempt, 0);
  }

  function send(current, tries) {
    setBusy(true);
    var started = false;
    var waiting = false;
    api("api/v1/checkout/payments", {
      method: "POST", headers: {"Content-Type": "application/json", "Idempotency-Key": current.key},
      body: current.body,
    }).then(function (r) {
      var error = r.body.error || {};
      // Refused: that attempt is over. Kept for a retry only when paygate may not have decided yet (in
      // flight, rate limited, or failing), since a retry under the same key then cannot pay twice.
      if (r.status >= 400 && r.status < 500 && r.status !== 409 && r.status !== 429) attempt = null;
      if (r.status === 409 && error.code === "IDEMPOTENCY_ERROR" && tries < IN_FLIGHT_TRIES) {
        // This attempt's first request is still being processed: its answer is replayed once it is done.
        waiting = true;
        setTimeout(function () { send(current, tries + 1); }, 1000); // the Retry-After paygate gives
      } else if (r.status === 201 && r.body.id) {
        started = true;
        paymentId = r.body.id;
        processing();
      } else if (error.code === "ORDER_ALREADY_PAID") {
        alreadyPaid();
      } else if (r.status === 404) {
        fatal("We couldn't find this order any more. Go back to the store and try again.");
      } else if (r.status === 429) {
        pageError("Too many attempts. Please wait a minute, then try again.");
      } else if (r.status === 409 && error.code === "IDEMPOTENCY_ERROR") {
        pageError("Your payment is still being started. Please wait a moment, then press Pay again.");
      } else if (r.status === 400 && SERVER_FIELDS[error.field]) {
        var name = SERVER_FIELDS[error.field];
        var message = error.code === "CARD_EXPIRED" ? "This card has expired."
          : error.code === "UNSUPPORTED_CARD_NETWORK" ? "This card network isn't supported. Try another card."
          : SERVER_MESSAGES[name];
        setFieldError(name, message);
        fields[name].inputs[0].focus();
      } else {
        pageError(error.description || "The payment could not be started. Please try again.");
      }
    }, function () {
      pageError("We couldn't reach the payment server. Check your connection and try again.");
    }).then(function () { if (!started && !waiting) setBusy(false); });
  }

  function processing() {
    $("processing-text").textContent = method === "upi"
      ? "Approve the request in your UPI app. Please keep this window open."
      : "This takes a few seconds. Please keep this window open.";
    show("processing");
    pollStarted = Date.now();
    poll();
  }

  function poll() {
    var id = paymentId;
    api("api/v1/checkout/payments/" + q(id) + "?key=" + q(key)).then(function (r) {
      if (id !== paymentId) return;
      if (r.status === 200 && r.body.status === "success") return succeeded(r.body);
      if (r.status === 200 && r.body.status === "failed") return failed(r.body);
      again(r.status === 429 ? 3000 : POLL_MS); // rate limited: ease off
    }, function () { again(POLL_MS); });
  }

  // Until the payment is final: a network blip or a slow processor is no reason to give up.
  function again(delay) {
    if (Date.now() - pollStarted > SLOW_MS) {
      $("processing-text").textContent = "This is taking longer than usual. Please keep this window open.";
    }
    setTimeout(poll, delay);
  }

  function succeeded(payment) {
    var returning = framed ? "" : callbackUrl ? " Taking you back to the store…" : " You can close this page.";
    var paid = amountText + " paid" + (merchantName ? " to " + merchantName : "") + ".";
    $("success-text").textContent = paid + returning;
    $("success-reference").textContent = "Payment ID " + payment.id;
    show("success");
    $("success").focus();
    post({type: "success", payment_id: payment.id, order_id: orderId, signature: payment.signature});
    if (callbackUrl) {
      var url = new URL(callbackUrl.href);
      url.searchParams.set("payment_id", payment.id);
      url.searchParams.set("order_id", orderId);
      url.searchParams.set("signature", payment.signature || "");
      setTimeout(function () { window.location.assign(url.href); }, 800);
    }
  }

  function failed(payment) {
    $("failure-text").textContent = payment.error_description || "The payment was declined.";
    $("failure-reference").textContent = (payment.error_code ? payment.error_code + " · " : "") + payment.id;
    show("failure");
    $("retry-button").focus();
    post({
      type: "failure", payment_id: payment.id, order_id: orderId,
      error_code: payment.error_code || null, error_description: payment.error_description || null,
    });
  }

  $("retry-button").addEventListener("click", function () {
    attempt = null; // that attempt is over: trying again, even with the same card, is a new one
    paymentId = null;
    setBusy(false);
    show("form");
    fields[METHOD_FIELDS[method][0]].inputs[0].focus();
  });

  // Escape inside the frame never reaches the merchant's page: ask checkout.js to close.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && framed) post({type: "close"});
  });

  load();
})();
