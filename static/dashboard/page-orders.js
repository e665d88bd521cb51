// Orders: the filtered list and an order's page with its payments.

import { code, definitionList, el, heading, row, select, statusBadge, table, tableWrap, tid } from "./dom.js";
import { money, when } from "./format.js";
import { api } from "./api.js";
import { dateParams, filterForm, linkTo, listPage, metadataFilter, methodText, pager, paymentStatus } from "./lists.js";
import { metadataSection } from "./metadata.js";

export async function renderOrders({ params }) {
  const result = await listPage("/api/v1/orders", {
    status: params.status, receipt: params.receipt, ...dateParams(params), metadata: params.metadata,
  }, params);
  const filters = filterForm("/orders", params, [
    ["status", "Status", select("status", [["", "Any"], ["created", "Created"], ["attempted", "Attempted"],
      ["paid", "Paid"]], params.status, "orders-filter-status")],
    ["receipt", "Receipt", el("input", { name: "receipt", value: params.receipt || "", ...tid("orders-filter-receipt") })],
    metadataFilter(params, "orders-filter-metadata"),
  ], "orders-filter", result.refused);
  const columns = ["Order", "Amount", "Status", "Receipt", "Capture", "Created"];
  const rows = result.data.map((o) => row(columns, [
    linkTo("orders", o.id), money(o.amount, o.currency), statusBadge(o.status), o.receipt || "—", o.capture_method,
    when(o.created_at),
  ], { "data-id": o.id, ...tid("order-row") }));
  return el("section", tid("orders"), heading("Orders"), filters,
    result.refused ? "" : result.data.length
      ? tableWrap("Orders", table(columns, rows, "orders-table"), "orders-table-wrap")
      : el("p", { class: "empty", ...tid("orders-empty") }, "No orders match."),
    pager("/orders", params, result, "orders"));
}

export async function renderOrder({ id }) {
  const [order, payments] = await Promise.all([
    api("GET", `/api/v1/orders/${encodeURIComponent(id)}`),
    api("GET", `/api/v1/orders/${encodeURIComponent(id)}/payments`),
  ]);
  const columns = ["Payment", "Amount", "Status", "Method", "Created"];
  const list = payments.data || [];
  return el("section", tid("order-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/orders" }, "Orders"), " / ", order.id),
    heading(`Order ${money(order.amount, order.currency)}`),
    definitionList([
      ["ID", code(order.id), "id"],
      ["Status", statusBadge(order.status), "status"],
      ["Amount", money(order.amount, order.currency), "amount"],
      ["Receipt", order.receipt, "receipt"],
      ["Capture", order.capture_method, "capture-method"],
      ["Created", when(order.created_at), "created"],
    ], "order-fields"),
    // An order's metadata and its notes are the same pairs under two names.
    ...metadataSection(order.metadata || order.notes, "Metadata (notes)"),
    el("h2", {}, "Payments"),
    list.length ? tableWrap("Payments of this order", table(columns, list.map((p) => row(columns, [
      linkTo("payments", p.id), money(p.amount, p.currency), paymentStatus(p), methodText(p), when(p.created_at),
    ], { "data-id": p.id, ...tid("order-payment-row") })), "order-payments"), "order-payments-wrap")
      : el("p", { class: "empty", ...tid("order-payments-empty") }, "No payments yet."));
}
