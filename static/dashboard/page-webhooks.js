// Webhooks: the endpoint, the signing secret, the delivery log, and recovering failed deliveries.

import { state } from "./state.js";
import { button, code, el, field, heading, messageBox, row, select, showMessage, statusBadge, table, tableWrap,
  tid } from "./dom.js";
import { when } from "./format.js";
import { SessionEnded, api, describe, newKey, query } from "./api.js";
import { every } from "./router.js";
import { filterForm, linkTo, pageQuery, pager } from "./lists.js";
import { confirmBox, secretWithCopy } from "./widgets.js";
import { webhookTabs } from "./endpoint-parts.js";

export async function renderWebhooks({ params, generation }) {
  const merchant = await api("GET", "/api/v1/merchant");
  const section = el("section", tid("webhooks"), heading("Webhooks"), webhookTabs("log"),
    endpointPanel(merchant), secretPanel(merchant));
  const log = el("div", tid("delivery-log"));
  const load = async () => {
    const result = await api("GET", `/api/v1/webhooks${query({
      status: params.status, event: params.event, ...pageQuery(params),
    })}`);
    if (generation !== state.generation) return;
    const hadFocus = log.contains(document.activeElement);
    log.replaceChildren(deliveryTable(result), pager("/webhooks", params, result, "deliveries"));
    if (hadFocus) log.querySelector(".table-wrap, .empty")?.focus();
  };
  await load();
  const refresh = button("Refresh", "deliveries-refresh", () => load().catch(() => {}), "button secondary");
  const filters = filterForm("/webhooks", params, [
    ["status", "Status", select("status", [["", "Any"], ["pending", "Pending"], ["success", "Success"],
      ["failed", "Failed"]], params.status, "deliveries-filter-status")],
    ["event", "Event", el("input", { name: "event", value: params.event || "", placeholder: "refund.processed",
      spellcheck: "false", autocapitalize: "off", ...tid("deliveries-filter-event") })],
  ], "deliveries-filter");
  section.append(
    el("div", { class: "section-head" }, el("h2", {}, "Delivery log"), refresh),
    filters, log, recoverPanel(load));
  // The log follows the worker: look again every 3 s while on this page, unless the user is in it.
  every(3000, generation, () => {
    if (log.contains(document.activeElement) || section.querySelector("form:focus-within input:focus")) return;
    load().catch(() => {});
  });
  return section;
}

/** A page of deliveries; showEndpoint adds which endpoint each went to (the webhook URL, or a we_… endpoint). */
export function deliveryTable(result, showEndpoint = true) {
  if (!result.data.length) return el("p", { class: "empty", tabindex: "-1", ...tid("deliveries-empty") }, "No deliveries yet.");
  const columns = ["Delivery", "Event", ...(showEndpoint ? ["Endpoint"] : []), "Status", "Attempts", "Next retry",
    "Last code", "Created"];
  const rows = result.data.map((d) => row(columns, [
    linkTo("webhooks", d.id), code(d.event, "delivery-event"), ...(showEndpoint ? [deliveryEndpoint(d)] : []),
    statusBadge(d.status),
    el("span", tid("delivery-attempts"), String(d.attempts)),
    d.next_retry_at && d.status === "pending" ? when(d.next_retry_at) : "—",
    el("span", tid("delivery-code"), d.response_code === null ? "—" : String(d.response_code)), when(d.created_at),
  ], { "data-id": d.id, "data-event": d.event, "data-status": d.status, ...tid("delivery-row") }));
  return tableWrap("Webhook deliveries", table(columns, rows, "deliveries-table"), "deliveries-table-wrap");
}

function deliveryEndpoint(d) {
  if (!d.endpoint_id) return el("span", { class: "muted", ...tid("delivery-endpoint") }, "Webhook URL");
  return el("a", { href: `#/webhooks/endpoints/${encodeURIComponent(d.endpoint_id)}`, class: "id-link",
    ...tid("delivery-endpoint") }, d.endpoint_id);
}

function endpointPanel(merchant) {
  const url = el("input", { type: "url", name: "webhook_url", value: merchant.webhook_url || "",
    placeholder: "https://shop.example/hooks/paygate", spellcheck: "false", autocapitalize: "off",
    ...tid("webhook-url-input") });
  const box = messageBox("webhook-url-message");
  const save = el("button", { type: "submit", class: "button", ...tid("webhook-url-save") }, "Save");
  const test = button("Send test", "webhook-test-button", null, "button secondary");
  const status = merchant.webhook_enabled === false
    ? el("p", { class: "message error", ...tid("webhook-disabled") },
      `paygate disabled this endpoint${merchant.webhook_disabled_reason ? `: ${merchant.webhook_disabled_reason}` : ""}. Save it again to re-enable it.`)
    : "";
  const form = el("form", { class: "panel", ...tid("webhook-endpoint-form"), novalidate: true },
    el("h2", {}, "Endpoint"), status, box,
    field("Endpoint URL", url, "paygate POSTs every event here, signed with your webhook secret."),
    el("div", { class: "actions" }, save, test));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    save.disabled = true;
    showMessage(box, "");
    try {
      const body = { webhook_url: url.value.trim() || null };
      if (merchant.webhook_enabled === false) body.webhook_enabled = true;
      const updated = await api("PATCH", "/api/v1/merchant", body);
      url.value = updated.webhook_url || "";
      showMessage(box, updated.webhook_url ? "Saved." : "Saved: no endpoint, so no webhooks are sent.", "ok");
    } catch (err) {
      if (!(err instanceof SessionEnded)) {
        showMessage(box, describe(err));
        url.focus();
      }
    } finally {
      save.disabled = false;
    }
  });
  test.addEventListener("click", async () => {
    test.disabled = true;
    showMessage(box, "");
    try {
      const sent = await api("POST", "/api/v1/webhooks/test", undefined, { idempotencyKey: newKey() });
      showMessage(box, `Test event sent: delivery ${sent.delivery.id}.`, "ok");
      document.querySelector("[data-test-id=deliveries-refresh]")?.click();
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
    } finally {
      test.disabled = false;
    }
  });
  return form;
}

function secretPanel(merchant) {
  const secret = code(merchant.webhook_secret, "webhook-secret");
  const box = messageBox("webhook-secret-message");
  const reveal = button("Reveal", "webhook-secret-reveal", null, "button secondary");
  reveal.setAttribute("aria-pressed", "false");
  let masked = merchant.webhook_secret;
  let revealed = false;
  reveal.addEventListener("click", async () => {
    showMessage(box, "");
    if (revealed) {
      secret.textContent = masked;
      revealed = false;
      reveal.textContent = "Reveal";
      reveal.setAttribute("aria-pressed", "false");
      return;
    }
    reveal.disabled = true;
    try {
      const answer = await api("GET", "/api/v1/merchant/webhook-secret");
      secret.textContent = answer.webhook_secret;
      revealed = true;
      reveal.textContent = "Hide";
      reveal.setAttribute("aria-pressed", "true");
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
    } finally {
      reveal.disabled = false;
    }
  });
  const fresh = el("div", { class: "once", ...tid("webhook-new-secret-panel") });
  fresh.hidden = true;
  const rotate = button("Rotate…", "webhook-secret-rotate", null, "button secondary");
  const confirmPanel = confirmBox(
    "Rotate the webhook secret? paygate signs with both the old and the new secret for a while, so you can switch your receiver over.",
    "Rotate secret", "webhook-secret-rotate-confirm", "webhook-secret-rotate-cancel",
    async (key) => {
      const rotated = await api("POST", "/api/v1/merchant/webhook-secret/rotate", undefined, { idempotencyKey: key });
      masked = maskSecret(rotated.webhook_secret);
      secret.textContent = masked;
      revealed = false;
      reveal.textContent = "Reveal";
      reveal.setAttribute("aria-pressed", "false");
      fresh.replaceChildren(
        el("p", { class: "warning" }, "Your new webhook secret, shown this once:"),
        secretWithCopy(rotated.webhook_secret, "webhook-new-secret"),
        rotated.previous_secret_valid_until
          ? el("p", { class: "muted", ...tid("webhook-previous-valid-until") }, "The previous secret keeps signing until ",
            when(rotated.previous_secret_valid_until), ".")
          : "");
      fresh.hidden = false;
      fresh.querySelector("button")?.focus();
    }, box, rotate);
  rotate.addEventListener("click", () => confirmPanel.open());
  return el("div", { class: "panel", ...tid("webhook-secret-panel") },
    el("h2", {}, "Signing secret"), box,
    el("div", { class: "secret-row" }, secret, reveal, rotate),
    confirmPanel.node, fresh);
}

function maskSecret(secret) {
  return `whsec_…${String(secret).slice(-4)}`;
}

function recoverPanel(reload) {
  const since = el("input", { type: "datetime-local", name: "since", step: "1", required: true, ...tid("recover-since") });
  const dayAgo = new Date(Date.now() - 24 * 3600 * 1000);
  since.value = localInputValue(dayAgo);
  const box = messageBox("recover-message");
  const submit = el("button", { type: "submit", class: "button secondary", ...tid("recover-button") }, "Recover failed deliveries");
  const form = el("form", { class: "panel", ...tid("recover-form"), novalidate: true },
    el("h2", {}, "Recover failed since…"),
    el("p", { class: "muted" }, "Send every failed delivery created since this time again, from the start of its schedule."),
    box, field("Failed since (your local time)", since),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!since.value) {
      showMessage(box, "Choose a date and time.");
      since.focus();
      return;
    }
    const start = new Date(since.value);
    submit.disabled = true;
    showMessage(box, "");
    try {
      const answer = await api("POST", "/api/v1/webhooks/recover", { since: start.toISOString() }, { idempotencyKey: newKey() });
      showMessage(box, `Re-queued ${answer.requeued} failed ${answer.requeued === 1 ? "delivery" : "deliveries"}.`, "ok");
      await reload();
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}
