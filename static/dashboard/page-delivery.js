// One webhook delivery: its attempts, its payload, and a manual retry.

import { state } from "./state.js";
import { button, code, definitionList, el, flash, heading, messageBox, row, showMessage, statusBadge, table,
  tableWrap, tid } from "./dom.js";
import { when } from "./format.js";
import { SessionEnded, api, describe, newKey } from "./api.js";
import { every, refreshIfIdle, route, stopTimers } from "./router.js";

export async function renderDelivery({ id, generation }) {
  const delivery = await api("GET", `/api/v1/webhooks/${encodeURIComponent(id)}`);
  const attempts = delivery.attempt_history || [];
  const columns = ["#", "Trigger", "Code", "Response body", "Error", "Duration", "At"];
  const rows = attempts.map((a) => row(columns, [
    String(a.number), a.trigger, el("span", tid("attempt-code"), a.status_code === null ? "—" : String(a.status_code)),
    el("span", { class: "excerpt", ...tid("attempt-body") }, excerpt(a.response_body)), a.error || "—",
    `${a.duration_ms} ms`, when(a.created_at),
  ], { "data-number": a.number, ...tid("attempt-row") }));
  const box = messageBox("delivery-message");
  const retry = button("Retry now", "delivery-retry-button", null);
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    showMessage(box, "");
    try {
      await api("POST", `/api/v1/webhooks/${encodeURIComponent(delivery.id)}/retry`, undefined, { idempotencyKey: newKey() });
      flash("Retry sent.");
      await route();
      // The worker sends it in a moment: follow until the attempt shows up.
      const before = delivery.attempts;
      const started = Date.now();
      const generationNow = state.generation;
      every(1000, generationNow, async () => {
        if (Date.now() - started > 30000) {
          stopTimers();
          return;
        }
        const fresh = await api("GET", `/api/v1/webhooks/${encodeURIComponent(delivery.id)}`).catch(() => null);
        if (fresh && fresh.attempts > before) route();
      });
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
      retry.disabled = false;
    }
  });
  if (delivery.status === "pending" && !attempts.length) every(2000, generation, () => refreshIfIdle());
  return el("section", tid("delivery-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/webhooks" }, "Webhooks"), " / ",
      ...(delivery.endpoint_id ? [endpointLink(delivery.endpoint_id, "delivery-crumb-endpoint"), " / "] : []),
      delivery.id),
    heading(`Delivery of ${delivery.event}`),
    definitionList([
      ["ID", code(delivery.id), "id"],
      ["Event", code(delivery.event), "event"],
      ["Status", statusBadge(delivery.status), "status"],
      ["Attempts", el("span", tid("delivery-detail-attempts"), String(delivery.attempts)), "attempts"],
      ["Next retry", delivery.status === "pending" ? when(delivery.next_retry_at) : "—", "next-retry"],
      ["Last code", delivery.response_code === null ? "—" : String(delivery.response_code), "last-code"],
      ["Endpoint", delivery.endpoint_id ? endpointLink(delivery.endpoint_id, "delivery-endpoint-link") : "Webhook URL",
        "endpoint"],
      ["URL", delivery.url, "url"],
      ["Created", when(delivery.created_at), "created"],
    ], "delivery-fields"),
    box,
    el("div", { class: "actions" }, retry, button("Refresh", "delivery-refresh", () => route(), "button secondary")),
    el("h2", {}, "Attempts"),
    attempts.length ? tableWrap("Attempts", table(columns, rows, "attempts-table"), "attempts-table-wrap")
      : el("p", { class: "empty", ...tid("attempts-empty") }, "Not attempted yet."),
    el("h2", {}, "Payload"),
    el("pre", { class: "code", tabindex: "0", ...tid("delivery-payload") }, JSON.stringify(delivery.payload, null, 2)));
}

/** The webhook endpoint (we_…) a delivery went to: the merchant's own webhook URL has none. */
function endpointLink(endpointId, testId) {
  return el("a", { href: `#/webhooks/endpoints/${encodeURIComponent(endpointId)}`, ...tid(testId) }, endpointId);
}

function excerpt(text) {
  if (text === null || text === undefined || text === "") return "—";
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}
