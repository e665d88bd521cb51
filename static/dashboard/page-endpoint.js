// One webhook endpoint: its settings and their edit form, disable/enable, its signing secret (reveal, rotate),
// deleting it, and its own delivery log, whose rows lead to the delivery page (and its Retry).

import { state } from "./state.js";
import { button, code, definitionList, el, flash, heading, messageBox, select, showMessage, tid } from "./dom.js";
import { when } from "./format.js";
import { SessionEnded, api, describe, query } from "./api.js";
import { every, go, route } from "./router.js";
import { filterForm, pageQuery, pager } from "./lists.js";
import { confirmBox } from "./widgets.js";
import { deliveryTable } from "./page-webhooks.js";
import { endpointForm, endpointStatus, eventsText, signingSecretPanel, webhookTabs } from "./endpoint-parts.js";

const path = (id) => `/api/v1/webhook_endpoints/${encodeURIComponent(id)}`;

export async function renderEndpoint({ id, params, generation }) {
  const endpoint = await api("GET", path(id));
  const until = el("span", tid("endpoint-previous-until"), when(endpoint.previous_secret_valid_until));
  const section = el("section", tid("endpoint-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/webhooks" }, "Webhooks"), " / ",
      el("a", { href: "#/webhooks/endpoints", ...tid("endpoint-crumb-list") }, "Endpoints"), " / ", endpoint.id),
    heading("Webhook endpoint"), webhookTabs("endpoints"),
    endpoint.disabled_reason
      ? el("p", { class: "message error", ...tid("endpoint-disabled-notice") },
        `paygate disabled this endpoint: ${endpoint.disabled_reason}. Enable it to send what waited.`)
      : "",
    definitionList([
      ["ID", code(endpoint.id), "id"],
      ["URL", code(endpoint.url), "url"],
      ["Description", endpoint.description, "description"],
      ["Events", eventsText(endpoint.enabled_events), "events"],
      ["Status", endpointStatus(endpoint), "status"],
      ["Previous secret signs until", until, "previous-until"],
      ["Created", when(endpoint.created_at), "created"],
      ["Updated", when(endpoint.updated_at), "updated"],
    ], "endpoint-fields"),
    el("div", { class: "action-panels endpoint-panels" },
      signingSecretPanel({
        masked: endpoint.secret, prefix: "endpoint",
        reveal: async () => (await api("GET", `${path(endpoint.id)}/secret`)).secret,
        rotate: async (key) => {
          const rotated = await api("POST", `${path(endpoint.id)}/secret/rotate`, undefined, { idempotencyKey: key });
          return { secret: rotated.secret, until: rotated.previous_secret_valid_until };
        },
        onRotated: (at) => until.replaceChildren(when(at)),
      }),
      statusPanel(endpoint)),
    editForm(endpoint));
  section.append(...await deliveryLog(endpoint, params, generation));
  return section;
}

function editForm(endpoint) {
  const edit = endpointForm({
    endpoint, testId: "endpoint-edit", title: "Edit endpoint", submitLabel: "Save changes",
    onSubmit: async (body) => {
      await api("PATCH", path(endpoint.id), body);
      flash("Endpoint saved.");
      await route();
    },
  });
  return edit.form;
}

/** Disable or enable it (no confirm step: either is undone as easily), and delete it (after one). */
function statusPanel(endpoint) {
  const box = messageBox("endpoint-status-message");
  const disabled = endpoint.status === "disabled";
  const toggle = button(disabled ? "Enable" : "Disable", disabled ? "endpoint-enable" : "endpoint-disable", async () => {
    toggle.disabled = true;
    showMessage(box, "");
    try {
      await api("PATCH", path(endpoint.id), { disabled: !disabled });
      flash(disabled ? "Endpoint enabled: it receives its events again, those that waited first."
        : "Endpoint disabled: its deliveries wait until you enable it.");
      await route();
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
      toggle.disabled = false;
    }
  }, disabled ? "button" : "button secondary");
  const remove = button("Delete…", "endpoint-delete", null, "button secondary");
  const confirmPanel = confirmBox(
    "Delete this endpoint? It receives nothing more and its pending deliveries fail; its past deliveries stay " +
    "listed on the Webhooks tab.",
    "Delete endpoint", "endpoint-delete-confirm", "endpoint-delete-cancel",
    async () => {
      await api("DELETE", path(endpoint.id));
      go("/webhooks/endpoints", { deleted: endpoint.id });
    }, box, remove, "Keep it");
  remove.addEventListener("click", () => confirmPanel.open());
  return el("div", { class: "panel", ...tid("endpoint-status-panel") },
    el("h2", {}, "Status"),
    el("p", { class: "muted" }, disabled
      ? "Disabled: its deliveries wait, and go when you enable it."
      : "Enabled: it receives every event it subscribes to."),
    box, el("div", { class: "actions" }, toggle, remove), confirmPanel.node);
}

/** The endpoint's deliveries (the API's endpoint_id filter), following the worker while the page shows. */
async function deliveryLog(endpoint, params, generation) {
  const here = `/webhooks/endpoints/${endpoint.id}`;
  const log = el("div", tid("endpoint-deliveries"));
  const load = async () => {
    const result = await api("GET", `/api/v1/webhooks${query({
      endpoint_id: endpoint.id, status: params.status, ...pageQuery(params),
    })}`);
    if (generation !== state.generation) return;
    const hadFocus = log.contains(document.activeElement);
    log.replaceChildren(deliveryTable(result, false), pager(here, params, result, "endpoint-deliveries"));
    if (hadFocus) log.querySelector(".table-wrap, .empty")?.focus();
  };
  await load();
  const filters = filterForm(here, params, [
    ["status", "Status", select("status", [["", "Any"], ["pending", "Pending"], ["success", "Success"],
      ["failed", "Failed"]], params.status, "endpoint-deliveries-filter-status")],
  ], "endpoint-deliveries-filter");
  every(3000, generation, () => {
    if (log.contains(document.activeElement)) return;
    load().catch(() => {});
  });
  return [
    el("div", { class: "section-head" }, el("h2", {}, "Delivery log"),
      button("Refresh", "endpoint-deliveries-refresh", () => load().catch(() => {}), "button secondary")),
    filters, log,
  ];
}
