/* paygate hosted checkout:
 *   /checkout?order_id=…&key=…[&origin=…][&callback_url=…][&name=&email=&contact=&vpa=][&color=%23RRGGBB]
 *
 * Each payment attempt is sent under its own Idempotency-Key, so a double click, a duplicated
 * request or a retry of the same attempt makes one payment (see startPayment).
 *
 * Framed by checkout.js it reports to the parent with postMessage, addressed to exactly the
 * `origin` parameter (and to nobody when there is none; see post in checkout-page-core.js).
 * Standalone it redirects to callback_url with payment_id, order_id and signature appended after
 * a successful payment.
 *
 * The page's script comes in four classic scripts, loaded in this order by checkout.html, all `defer`:
 *   checkout-page-core.js    URL parameters, messages to checkout.js, theme, API calls, page states
 *   checkout-page-fields.js  card input helpers and field validation
 *   checkout-page-method.js  payment method tabs and the test-mode instruments
 *   checkout-page.js         this file: loading the order, paying and waiting for the result
 * They share one object, window.PaygateCheckout, and nothing else.
 */
(function () {
  "use strict";

  var ns = window.PaygateCheckout;
  var params = ns.params;
  var orderId = ns.orderId;
  var key = ns.key;
  var framed = ns.framed;
  var callbackUrl = ns.callbackUrl;
  var $ = ns.$;
  var form = ns.form;
  var post = ns.post;
  var api = ns.api;
  var q = ns.q;
  var show = ns.show;
  var pageError = ns.pageError;
  var fatal = ns.fatal;
  var formatAmount = ns.formatAmount;
  var fields = ns.fields;
  var METHOD_FIELDS = ns.METHOD_FIELDS;
  var digitsOf = ns.digitsOf;
  var expiry = ns.expiry;
  var setFieldError = ns.setFieldError;
  var validate = ns.validate;
  var showTestCards = ns.showTestCards;
  var currentMethod = ns.currentMethod;

  var POLL_MS = 500;
  var SLOW_MS = 30000;
  var IN_FLIGHT_TRIES = 10; // answers of "this attempt is still being processed" to wait through

  var payButton = $("pay-button");
  var numberInput = $("card-number");
  var cvvInput = $("card-cvv");

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
  var busy = false;
  var attempt = null; // {key, body}: the attempt under way, until it fails, is refused or its details change
  var paymentId = null;
  var pollStarted = 0;

  // ---- loading the order -------------------------------------------------------------------

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

  // ---- paying ------------------------------------------------------------------------------

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) return;
    pageError("");
    var bad = METHOD_FIELDS[currentMethod()].filter(function (name) { return !validate(name); });
    if (bad.length) {
      var first = fields[bad[0]].inputs.filter(function (i) { return i.getAttribute("aria-invalid"); })[0];
      (first || fields[bad[0]].inputs[0]).focus();
      return;
    }
    startPayment();
  });

  function paymentBody() {
    var method = currentMethod();
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
    $("processing-text").textContent = currentMethod() === "upi"
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
    fields[METHOD_FIELDS[currentMethod()][0]].inputs[0].focus();
  });

  // Escape inside the frame never reaches the merchant's page: ask checkout.js to close.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && framed) post({type: "close"});
  });

  load();
})();
