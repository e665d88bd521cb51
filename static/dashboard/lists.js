// What the list and detail pages share: filter forms, pagers, links to objects, a payment's status and method
// as rows show them, and the event timeline of a detail page.

import { button, el, field, statusBadge, tid } from "./dom.js";
import { when } from "./format.js";
import { api, query } from "./api.js";
import { go } from "./router.js";

export const PAGE_SIZE = 20;

/** A filter form that rewrites the hash; fields: [name, label, control]. */
export function filterForm(path, params, fields, testId) {
  const form = el("form", { class: "filters", ...tid(testId), role: "search" },
    fields.map(([, label, control]) => field(label, control)),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "button", ...tid(`${testId}-apply`) }, "Apply"),
      el("a", { href: `#${path}`, class: "button secondary", ...tid(`${testId}-clear`) }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    for (const [name, , control] of fields) next[name] = control.value.trim();
    go(path, next);
  });
  return form;
}

export function pager(path, params, result, testId) {
  const offset = result.offset || 0;
  const shown = result.data.length;
  const info = result.total
    ? `${offset + 1}–${offset + shown} of ${result.total}`
    : "Nothing yet";
  const prev = button("← Previous", `${testId}-prev`, () => go(path, { ...params, offset: Math.max(0, offset - PAGE_SIZE) }), "button secondary");
  const next = button("Next →", `${testId}-next`, () => go(path, { ...params, offset: offset + PAGE_SIZE }), "button secondary");
  prev.disabled = offset <= 0;
  next.disabled = offset + shown >= result.total;
  return el("nav", { class: "pager", "aria-label": "Pages" },
    prev, el("span", { class: "pager-info", ...tid(`${testId}-total`) }, info), next);
}

export function dateParams(params) {
  // Dates from <input type=date> are the merchant's local days.
  const out = {};
  if (params.from) out.from = new Date(`${params.from}T00:00:00`).toISOString();
  if (params.to) out.to = new Date(`${params.to}T23:59:59.999`).toISOString();
  return out;
}

export function linkTo(kind, id) {
  return el("a", { href: `#/${kind}/${encodeURIComponent(id)}`, class: "id-link", ...tid(`${kind}-link`) }, id);
}

/** A list row's status: the badge and, for a failed payment, why it failed. */
export function paymentStatus(p) {
  const reason = p.status === "failed" ? p.error_description || p.error_code : "";
  return el("span", { class: "status-cell" }, statusBadge(p.status),
    reason ? el("span", { class: "row-error", ...tid("payment-error") }, reason) : "");
}

export function methodText(p) {
  if (p.method === "card" && p.card) return `${p.card.network} ···· ${p.card.last4}`;
  if (p.method === "upi") return `UPI ${p.vpa || ""}`.trim();
  return p.method;
}

export async function eventTimeline(objectIds) {
  const lists = await Promise.all(objectIds.map((objectId) =>
    api("GET", `/api/v1/events${query({ object_id: objectId, limit: 100 })}`)));
  const events = lists.flatMap((l) => l.data).sort((a, b) => a.created_at.localeCompare(b.created_at));
  if (!events.length) return el("p", { class: "empty", ...tid("timeline-empty") }, "No events yet.");
  return el("ol", { class: "timeline", ...tid("timeline") }, events.map((e) =>
    el("li", { "data-event": e.event, ...tid("timeline-event") },
      el("span", { class: "timeline-name" }, e.event), " ",
      el("span", { class: "muted" }, e.object_id), " ", when(e.created_at))));
}
