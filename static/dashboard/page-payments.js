// Payments: the filtered list, and a payment's page with its capture, cancel and refund actions.

import { PAYMENT_STATUSES, UNSETTLED, button, code, definitionList, el, field, flash, heading, messageBox, row,
  select, showMessage, statusBadge, table, tableWrap, tid } from "./dom.js";
import { majorString, money, parseMajor, when } from "./format.js";
import { ApiError, SessionEnded, api, describe, newKey } from "./api.js";
import { every, refreshIfIdle, route } from "./router.js";
import { dateParams, eventTimeline, filterForm, linkTo, listPage, metadataFilter, methodText, pager,
  paymentStatus } from "./lists.js";
import { confirmBox } from "./widgets.js";
import { metadataSection } from "./metadata.js";

export async function renderPayments({ params }) {
  const result = await listPage("/api/v1/payments", {
    status: params.status, method: params.method, ...dateParams(params), metadata: params.metadata,
  }, params);
  const filters = filterForm("/payments", params, [
    ["status", "Status", select("status", [["", "Any"], ...PAYMENT_STATUSES], params.status, "payments-filter-status")],
    ["method", "Method", select("method", [["", "Any"], ["card", "Card"], ["upi", "UPI"]], params.method, "payments-filter-method")],
    ["from", "From", el("input", { type: "date", name: "from", value: params.from || "", ...tid("payments-filter-from") })],
    ["to", "To", el("input", { type: "date", name: "to", value: params.to || "", ...tid("payments-filter-to") })],
    metadataFilter(params, "payments-filter-metadata"),
  ], "payments-filter", result.refused);
  const columns = ["Payment", "Amount", "Status", "Method", "Captured", "Refunded", "Created"];
  const rows = result.data.map((p) => row(columns, [
    linkTo("payments", p.id), money(p.amount, p.currency), paymentStatus(p), methodText(p),
    p.captured ? money(p.amount_captured, p.currency) : "—",
    p.amount_refunded ? money(p.amount_refunded, p.currency) : "—", when(p.created_at),
  ], { "data-id": p.id, ...tid("payment-row") }));
  return el("section", tid("payments"), heading("Payments"), filters,
    result.refused ? "" : result.data.length
      ? tableWrap("Payments", table(columns, rows, "payments-table"), "payments-table-wrap")
      : el("p", { class: "empty", ...tid("payments-empty") }, "No payments match."),
    pager("/payments", params, result, "payments"));
}

function capturable(p) {
  return p.status === "success" && p.capture_method === "manual" && !p.captured && !p.authorization_released_at;
}

// Why an authorization was voided, in words (the payment's void_reason).
const VOID_REASONS = { requested: "requested", expired: "authorization expired" };
// A capture or cancellation the processor has not answered yet: paygate settles it, so no second one is offered.
const IN_PROGRESS = {
  capture_pending: "A capture of this payment is in progress at the processor; this page updates when its outcome is known.",
  void_pending: "A cancellation of this authorization is in progress at the processor; this page updates when its outcome is known.",
};

export async function renderPayment({ id, generation }) {
  const [payment, refunds] = await Promise.all([
    api("GET", `/api/v1/payments/${encodeURIComponent(id)}`),
    api("GET", `/api/v1/payments/${encodeURIComponent(id)}/refunds`),
  ]);
  const refundList = refunds.data || [];
  const timeline = await eventTimeline([payment.id, ...refundList.map((r) => r.id)]);
  const section = el("section", tid("payment-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/payments" }, "Payments"), " / ", payment.id),
    heading(`Payment ${money(payment.amount, payment.currency)}`),
    definitionList([
      ["ID", code(payment.id), "id"],
      ["Status", statusBadge(payment.status), "status"],
      // The reason is set as the void begins: say it only once the authorization is released.
      ...(payment.status === "voided"
        ? [["Voided", VOID_REASONS[payment.void_reason] || payment.void_reason, "void-reason"]] : []),
      ["Amount", money(payment.amount, payment.currency), "amount"],
      ["Order", linkTo("orders", payment.order_id), "order"],
      ["Method", methodText(payment), "method"],
      ["Capture", payment.capture_method, "capture-method"],
      ["Captured", payment.captured ? money(payment.amount_captured, payment.currency) : "Not captured", "captured"],
      ["Refunded", money(payment.amount_refunded, payment.currency), "refunded"],
      ["Refund status", payment.refund_status, "refund-status"],
      ["Error", payment.error_code ? `${payment.error_code}: ${payment.error_description || ""}` : null, "error"],
      ["Created", when(payment.created_at), "created"],
      ["Captured at", when(payment.captured_at), "captured-at"],
      ["Authorization released", when(payment.authorization_released_at), "released-at"],
    ], "payment-fields"));
  if (IN_PROGRESS[payment.status]) {
    section.append(el("p", { class: "message pending", role: "status", ...tid("payment-in-progress") },
      IN_PROGRESS[payment.status]));
  }
  const actions = el("div", { class: "action-panels" });
  // An authorization still held is captured, or cancelled (voided) instead.
  if (capturable(payment)) actions.append(captureForm(payment), cancelPanel(payment));
  if (payment.captured && payment.amount_refunded < payment.amount_captured) actions.append(refundForm(payment));
  if (actions.childElementCount) section.append(actions);
  const refundColumns = ["Refund", "Amount", "Status", "Reason", "Created"];
  section.append(el("h2", {}, "Refunds"), refundList.length
    ? tableWrap("Refunds of this payment", table(refundColumns, refundList.map((r) => row(refundColumns, [
      linkTo("refunds", r.id), money(r.amount, r.currency), statusBadge(r.status), r.reason || "—", when(r.created_at),
    ], { "data-id": r.id, ...tid("payment-refund-row") })), "payment-refunds"), "payment-refunds-wrap")
    : el("p", { class: "empty", ...tid("payment-refunds-empty") }, "No refunds."));
  section.append(...metadataSection(payment.metadata), el("h2", {}, "Timeline"), timeline);
  // While something is still moving (a capture or cancellation at the processor too), look again every 2 s.
  if (UNSETTLED.has(payment.status) || refundList.some((r) => UNSETTLED.has(r.status))) {
    every(2000, generation, () => refreshIfIdle());
  }
  return section;
}

function captureForm(payment) {
  const amount = el("input", { name: "amount", inputmode: "decimal", autocomplete: "off",
    value: majorString(payment.amount, payment.currency), ...tid("capture-amount") });
  const box = messageBox("capture-message");
  const submit = el("button", { type: "submit", class: "button", ...tid("capture-button") }, "Capture");
  const form = el("form", { class: "panel action", ...tid("capture-form"), novalidate: true },
    el("h2", {}, "Capture"),
    el("p", { class: "muted" }, `Authorized ${money(payment.amount, payment.currency)}; capture all of it or part of it, once. The rest is released.`),
    box,
    field(`Amount (${payment.currency})`, amount),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minor = parseMajor(amount.value, payment.currency);
    if (!minor || minor <= 0) {
      showMessage(box, `Enter an amount in ${payment.currency}, like ${majorString(payment.amount, payment.currency)}.`);
      amount.setAttribute("aria-invalid", "true");
      amount.focus();
      return;
    }
    amount.removeAttribute("aria-invalid");
    await submitAction(submit, box, async (key) => {
      const body = minor === payment.amount ? {} : { amount: minor };
      const answer = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/capture`, body, { idempotencyKey: key });
      // A 202 answers with the payment still capture_pending: the processor's answer did not come in time.
      flash(answer.status === "capture_pending"
        ? "The capture is pending at the processor; its outcome follows, and this page updates by itself."
        : `Captured ${money(minor, payment.currency)}.`);
    });
  });
  return form;
}

/** Cancel (void) an uncaptured authorization, after a confirm step: the shopper's funds are released. */
function cancelPanel(payment) {
  const amount = money(payment.amount, payment.currency);
  const box = messageBox("cancel-message");
  const open = button("Cancel authorization…", "cancel-button", null, "button secondary");
  const confirmPanel = confirmBox(
    `Cancel this authorization? ${amount} is released to the shopper and none of it can be captured any more.`,
    "Cancel authorization", "cancel-confirm", "cancel-keep",
    async (key) => {
      const answer = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/cancel`, {}, { idempotencyKey: key });
      // A 202 answers with the payment still void_pending: paygate asks the processor again and records the outcome.
      flash(answer.status === "void_pending"
        ? "The cancellation is pending at the processor; its outcome follows, and this page updates by itself."
        : `Authorization cancelled: ${amount} released.`);
      await route();
    }, box, open, "Keep it");
  open.addEventListener("click", () => confirmPanel.open());
  return el("div", { class: "panel action", ...tid("cancel-panel") },
    el("h2", {}, "Cancel authorization"),
    el("p", { class: "muted" }, `Release the authorized ${amount} without capturing any of it; the order can then be paid again.`),
    box,
    el("div", { class: "actions" }, open),
    confirmPanel.node);
}

function refundForm(payment) {
  const left = payment.amount_captured - payment.amount_refunded;
  const amount = el("input", { name: "amount", inputmode: "decimal", autocomplete: "off",
    value: majorString(left, payment.currency), ...tid("refund-amount") });
  const reason = el("input", { name: "reason", maxlength: "255", autocomplete: "off", ...tid("refund-reason") });
  const box = messageBox("refund-message");
  const submit = el("button", { type: "submit", class: "button", ...tid("refund-button") }, "Refund");
  const form = el("form", { class: "panel action", ...tid("refund-form"), novalidate: true },
    el("h2", {}, "Refund"),
    el("p", { class: "muted" }, `Up to ${money(left, payment.currency)} can still be refunded.`),
    box,
    field(`Amount (${payment.currency})`, amount),
    field("Reason (optional)", reason),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minor = parseMajor(amount.value, payment.currency);
    if (minor === null) {
      showMessage(box, `Enter an amount in ${payment.currency}, like ${majorString(left, payment.currency)}.`);
      amount.setAttribute("aria-invalid", "true");
      amount.focus();
      return;
    }
    amount.removeAttribute("aria-invalid");
    // Anything else (zero, more than is left) is for the server to say, in its own words.
    await submitAction(submit, box, async (key) => {
      const body = { amount: minor };
      if (reason.value.trim()) body.reason = reason.value.trim();
      const refund = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/refunds`, body, { idempotencyKey: key });
      flash(`Refund ${refund.id} of ${money(refund.amount, refund.currency)} created.`);
    }, amount);
  });
  return form;
}

/** Run one user action with its own Idempotency-Key; show the API's error, or re-render on success. */
async function submitAction(submit, box, action, focusOnError) {
  submit.disabled = true;
  showMessage(box, "");
  const key = newKey();
  try {
    await action(key);
    await route();
  } catch (err) {
    if (err instanceof SessionEnded) return;
    showMessage(box, describe(err));
    if (focusOnError && err instanceof ApiError && err.field === "amount") {
      focusOnError.setAttribute("aria-invalid", "true");
      focusOnError.focus();
    }
  } finally {
    submit.disabled = false;
  }
}
