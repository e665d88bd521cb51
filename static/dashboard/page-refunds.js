// Refunds: the filtered list and a refund's page.

import { REFUND_STATUSES, UNSETTLED, code, definitionList, el, heading, row, select, statusBadge, table, tableWrap,
  tid } from "./dom.js";
import { money, when } from "./format.js";
import { api } from "./api.js";
import { every, refreshIfIdle } from "./router.js";
import { dateParams, eventTimeline, filterForm, linkTo, listPage, metadataFilter, pager } from "./lists.js";
import { metadataSection } from "./metadata.js";

export async function renderRefunds({ params }) {
  const result = await listPage("/api/v1/refunds", {
    status: params.status, payment_id: params.payment_id, ...dateParams(params), metadata: params.metadata,
  }, params);
  const filters = filterForm("/refunds", params, [
    ["status", "Status", select("status", [["", "Any"], ...REFUND_STATUSES], params.status, "refunds-filter-status")],
    ["payment_id", "Payment ID", el("input", { name: "payment_id", value: params.payment_id || "",
      spellcheck: "false", autocapitalize: "off", ...tid("refunds-filter-payment") })],
    metadataFilter(params, "refunds-filter-metadata"),
  ], "refunds-filter", result.refused);
  const columns = ["Refund", "Payment", "Amount", "Status", "Reason", "Created"];
  const rows = result.data.map((r) => row(columns, [
    linkTo("refunds", r.id), linkTo("payments", r.payment_id), money(r.amount, r.currency), statusBadge(r.status),
    r.reason || "—", when(r.created_at),
  ], { "data-id": r.id, ...tid("refund-row") }));
  return el("section", tid("refunds"), heading("Refunds"), filters,
    result.refused ? "" : result.data.length
      ? tableWrap("Refunds", table(columns, rows, "refunds-table"), "refunds-table-wrap")
      : el("p", { class: "empty", ...tid("refunds-empty") }, "No refunds match."),
    pager("/refunds", params, result, "refunds"));
}

export async function renderRefund({ id, generation }) {
  const refund = await api("GET", `/api/v1/refunds/${encodeURIComponent(id)}`);
  const timeline = await eventTimeline([refund.id]);
  if (UNSETTLED.has(refund.status)) every(2000, generation, () => refreshIfIdle());
  return el("section", tid("refund-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/refunds" }, "Refunds"), " / ", refund.id),
    heading(`Refund ${money(refund.amount, refund.currency)}`),
    definitionList([
      ["ID", code(refund.id), "id"],
      ["Status", statusBadge(refund.status), "status"],
      ["Amount", money(refund.amount, refund.currency), "amount"],
      ["Payment", linkTo("payments", refund.payment_id), "payment"],
      ["Reason", refund.reason, "reason"],
      ["Error", refund.error_code ? `${refund.error_code}: ${refund.error_description || ""}` : null, "error"],
      ["Created", when(refund.created_at), "created"],
      ["Processed", when(refund.processed_at), "processed"],
    ], "refund-fields"),
    ...metadataSection(refund.metadata),
    el("h2", {}, "Timeline"), timeline);
}
