// Webhook endpoints: the merchant's endpoints (each with its own events and secret), and adding one, whose secret
// is shown this once.

import { state } from "./state.js";
import { el, heading, messageBox, row, showMessage, table, tableWrap, tid } from "./dom.js";
import { when } from "./format.js";
import { api, newKey, query } from "./api.js";
import { endpointForm, endpointLink, endpointStatus, eventsText, webhookTabs } from "./endpoint-parts.js";
import { secretWithCopy } from "./widgets.js";

// The API allows 16 endpoints per merchant: one page of 100 holds them all.
const ALL = 100;

export async function renderEndpoints({ params, generation }) {
  const list = el("div", tid("endpoints-list"));
  const load = async () => {
    const result = await api("GET", `/api/v1/webhook_endpoints${query({ limit: ALL })}`);
    if (generation !== state.generation) return;
    list.replaceChildren(endpointTable(result.data));
  };
  await load();
  // An endpoint's page sends you here after deleting it, and says which.
  const notice = messageBox("endpoints-notice");
  if (params.deleted) showMessage(notice, `Endpoint ${params.deleted} deleted.`, "ok");
  const fresh = el("div", { class: "once", ...tid("endpoint-created-panel") });
  fresh.hidden = true;
  const create = endpointForm({
    testId: "endpoint-create", title: "Add an endpoint", submitLabel: "Add endpoint",
    onSubmit: async (body) => {
      fresh.hidden = true;
      const created = await api("POST", "/api/v1/webhook_endpoints", body, { idempotencyKey: newKey() });
      create.reset();
      fresh.replaceChildren(
        el("p", { class: "warning", role: "alert" }, "The signing secret of ", el("a", {
          href: `#/webhooks/endpoints/${encodeURIComponent(created.id)}`, ...tid("endpoint-created-link") },
        created.url), ", shown in full this once (its page can reveal it again):"),
        secretWithCopy(created.secret, "endpoint-created-secret"));
      fresh.hidden = false;
      await load();
      fresh.querySelector("button")?.focus();
      return `Endpoint ${created.id} added.`;
    },
  });
  create.form.append(fresh);
  return el("section", tid("webhook-endpoints"), heading("Webhook endpoints"), webhookTabs("endpoints"),
    notice,
    el("p", { class: "muted" }, "Each endpoint receives the events it subscribes to, signed with its own secret, " +
      "as deliveries of its own. The webhook URL on the other tab keeps receiving every event."),
    list, create.form);
}

function endpointTable(endpoints) {
  if (!endpoints.length) {
    return el("p", { class: "empty", ...tid("endpoints-empty") }, "No endpoints yet: add one below.");
  }
  const columns = ["Endpoint", "Events", "Status", "Created"];
  const rows = endpoints.map((e) => row(columns, [
    el("span", { class: "stack" }, endpointLink(e),
      e.description ? el("span", { class: "muted", ...tid("endpoint-description") }, e.description) : ""),
    el("span", tid("endpoint-events"), eventsText(e.enabled_events)),
    endpointStatus(e), when(e.created_at),
  ], { "data-id": e.id, "data-status": e.status, ...tid("endpoint-row") }));
  return tableWrap("Webhook endpoints", table(columns, rows, "endpoints-table"), "endpoints-table-wrap");
}
