/* paygate hosted checkout, part 2 of 4: the card input helpers and field validation.
 * Needs checkout-page-core.js; shares through window.PaygateCheckout.
 */
(function () {
  "use strict";

  var ns = window.PaygateCheckout;
  var $ = ns.$;

  var VPA = /^[A-Za-z0-9][A-Za-z0-9._-]{1,255}@[A-Za-z][A-Za-z0-9]{1,63}$/; // as paygate/cards.py
  var NETWORKS = [ // [pattern, label]; display only, the server decides what it accepts
    [/^3[47]/, "AMEX"], [/^4/, "VISA"], [/^(5[1-5]|2(2[2-9]|[3-6]\d|7[01]|720))/, "MASTERCARD"],
    [/^(508|60|65(21|22)|8[12]|35[36])/, "RUPAY"], [/^(6011|64[4-9]|65)/, "DISCOVER"],
    [/^(36|30[0-5]|3[89])/, "DINERS"], [/^35/, "JCB"], [/^(5[06-8]|6304|6759|67677[04])/, "MAESTRO"],
  ];

  var fields = {
    "card-number": {inputs: [$("card-number")], check: checkNumber},
    "card-expiry": {inputs: [$("card-exp-month"), $("card-exp-year")], check: checkExpiry},
    "card-cvv": {inputs: [$("card-cvv")], check: checkCvv},
    "card-name": {inputs: [$("card-name")], check: checkName},
    "vpa": {inputs: [$("vpa")], check: checkVpa},
  };
  var METHOD_FIELDS = {card: ["card-number", "card-expiry", "card-cvv", "card-name"], upi: ["vpa"]};

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

  ns.fields = fields;
  ns.METHOD_FIELDS = METHOD_FIELDS;
  ns.digitsOf = digitsOf;
  ns.isAmex = isAmex;
  ns.groupCard = groupCard;
  ns.expiry = expiry;
  ns.setFieldError = setFieldError;
  ns.validate = validate;
})();
