/* paygate hosted checkout, part 3 of 4: the payment method tabs and, in test mode, the test instruments.
 * Needs checkout-page-core.js and checkout-page-fields.js; shares through window.PaygateCheckout.
 */
(function () {
  "use strict";

  var ns = window.PaygateCheckout;
  var $ = ns.$;
  var pageError = ns.pageError;
  var METHOD_FIELDS = ns.METHOD_FIELDS;
  var setFieldError = ns.setFieldError;
  var groupCard = ns.groupCard;
  var isAmex = ns.isAmex;

  var payButton = $("pay-button");
  var numberInput = $("card-number");
  var monthInput = $("card-exp-month");
  var yearInput = $("card-exp-year");
  var cvvInput = $("card-cvv");

  var method = "card";

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

  ns.showTestCards = showTestCards;
  ns.currentMethod = function () { return method; }; // "card" or "upi": the tab selected
})();
