// What the list and detail pages share: filter forms, pagers, links to objects, a payment's status and method
// as rows show them, and the event timeline of a detail page.

import { button, el, field, messageBox, showMessage, statusBadge, tid } from "./dom.js";
import { when } from "./format.js";
import { ApiError, api, describe, query } from "./api.js";
import { go } from "./router.js";

export const PAGE_SIZE = 20;
// Where a page starts, in the hash: after the last object of the page before (older), or before the first
// object of the page after (newer). The first page has neither.
const CURSORS = ["starting_after", "ending_before"];

/** The page's part of a list's query: its size, and the hash's cursor if it has one. */
export function pageQuery(params) {
  return { limit: PAGE_SIZE, starting_after: params.starting_after, ending_before: params.ending_before };
}

/**
 * One page of a list: GET path with filters and the hash's cursor. A 400 (a filter or cursor the API refuses)
 * comes back as an empty page whose `refused` is the error, for filterForm to show beside the filters; any other
 * error is the page's. filters.metadata, "key=value", becomes metadata[key]=value.
 */
export async function listPage(path, filters, params) {
  const { metadata, ...plain } = filters;
  try {
    return await api("GET", `${path}${query({ ...plain, ...pageQuery(params) })}${metadataQuery(metadata)}`);
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 400) throw err;
    return { data: [], total: 0, has_more: false, refused: err };
  }
}

// "key=value" as &metadata[key]=value. Sent even when half of it is missing ("key", "=value"), so that the API
// says what is wrong with it rather than the filter being dropped in silence (query() leaves out empty values).
function metadataQuery(text) {
  const pair = (text || "").trim();
  if (!pair) return "";
  const at = pair.includes("=") ? pair.indexOf("=") : pair.length;
  const key = pair.slice(0, at).trim();
  const value = pair.slice(at + 1).trim();
  return `&${encodeURIComponent(`metadata[${key}]`)}=${encodeURIComponent(value)}`;
}

/** The Metadata filter of orders, payments and refunds: one key=value pair. */
export function metadataFilter(params, testId) {
  return ["metadata", "Metadata", el("input", { name: "metadata", value: params.metadata || "",
    placeholder: "order_ref=A1", spellcheck: "false", autocapitalize: "off", autocomplete: "off", ...tid(testId) })];
}

/**
 * A filter form that rewrites the hash (from the first page: a cursor belongs to the filters it was found with);
 * fields: [name, label, control]. `refused`, the API's 400 for these filters (listPage's), shows in the form and
 * marks the field it names.
 */
export function filterForm(path, params, fields, testId, refused) {
  const box = messageBox(`${testId}-message`);
  if (refused) {
    showMessage(box, describe(refused));
    const named = refused.field.replace(/\[.*$/s, "");  // metadata[key] is the Metadata field's
    fields.find(([name]) => name === named)?.[2].setAttribute("aria-invalid", "true");
  }
  const form = el("form", { class: "filters", ...tid(testId), role: "search" }, box,
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

/**
 * Previous and Next by cursor: Next is the page after the last object shown, Previous the page before the first.
 * has_more counts the way the page was read (older ones, or newer ones after ending_before); the other way,
 * the cursor's own object is there. Nothing to page when the API refused the filters.
 */
export function pager(path, params, result, testId) {
  if (result.refused) return null;
  const { data, total } = result;
  const before = Boolean(params.ending_before);
  const after = !before && Boolean(params.starting_after);
  const newer = before ? result.has_more : after;
  const older = before || result.has_more;
  const base = Object.fromEntries(Object.entries(params).filter(([name]) => ![...CURSORS, "offset"].includes(name)));
  // With nothing shown there is no id to page from: both ways lead back to the first page.
  const first = data[0]?.id;
  const last = data[data.length - 1]?.id;
  const prev = button("← Previous", `${testId}-prev`,
    () => go(path, first ? { ...base, ending_before: first } : base), "button secondary");
  const next = button("Next →", `${testId}-next`,
    () => go(path, last ? { ...base, starting_after: last } : base), "button secondary");
  prev.disabled = !newer;
  next.disabled = !older;
  return el("nav", { class: "pager", "aria-label": "Pages" },
    prev, el("span", { class: "pager-info", ...tid(`${testId}-total`) }, pageInfo(data.length, total, newer, older)),
    next);
}

// Where a cursor page stands is known only at either end of the list; between them, how many of how many.
function pageInfo(shown, total, newer, older) {
  if (!total) return "Nothing yet";
  if (!shown) return `None here, ${total} in all`;
  if (!newer) return `1–${shown} of ${total}`;
  if (!older) return `${total - shown + 1}–${total} of ${total}`;
  return `${shown} of ${total}`;
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
