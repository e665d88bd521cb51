// What the webhook endpoint pages share: the tabs between the merchant's own webhook URL and its endpoints, the
// event types an endpoint may subscribe to, its status as a list shows it, the create/edit form (URL, events,
// description) that marks the field the API's 400 names, and a signing secret with Reveal and Rotate.

import { button, code, el, field, messageBox, showMessage, statusBadge, tid, uid } from "./dom.js";
import { when } from "./format.js";
import { ApiError, SessionEnded, describe } from "./api.js";
import { confirmBox, secretWithCopy } from "./widgets.js";

// paygate/core/webhooks/event_types.py EVENT_TYPES, in its order (tests/test_browser_endpoints.py holds the two
// together). "*" subscribes to every one of them but webhook.test.
export const EVENT_TYPES = [
  "payment.created", "payment.success", "payment.failed", "payment.captured", "payment.capture_failed",
  "payment.voided", "payment.released",
  "refund.created", "refund.processed", "refund.failed",
  "merchant.api_secret_rotated", "merchant.api_secret_expired",
  "webhook.test",
];
export const EVERY = "*";

/** The tabs of the Webhooks area: current is "log" (#/webhooks) or "endpoints" (#/webhooks/endpoints…). */
export function webhookTabs(current) {
  const tab = (name, href, label) => el("a", { href, class: "tab", "aria-current": name === current ? "page" : null,
    ...tid(`webhooks-tab-${name}`) }, label);
  return el("nav", { class: "tabs", "aria-label": "Webhooks" },
    tab("log", "#/webhooks", "Webhook URL and log"), tab("endpoints", "#/webhooks/endpoints", "Endpoints"));
}

export function eventsText(events) {
  return events.includes(EVERY) ? "All events" : events.join(", ");
}

/** An endpoint's status badge and, when paygate disabled it (a 410 Gone), why. */
export function endpointStatus(endpoint) {
  return el("span", { class: "status-cell" }, statusBadge(endpoint.status),
    endpoint.disabled_reason ? el("span", { class: "row-error", ...tid("endpoint-disabled-reason") },
      endpoint.disabled_reason) : "");
}

export function endpointLink(endpoint) {
  return el("a", { href: `#/webhooks/endpoints/${encodeURIComponent(endpoint.id)}`, class: "id-link",
    ...tid("endpoint-link") }, endpoint.url);
}

/** The event checkboxes: "All events", or some of EVENT_TYPES. value() is what enabled_events takes. */
function eventPicker(selected, testId) {
  const all = el("input", { type: "checkbox", name: "all_events", checked: selected.includes(EVERY),
    ...tid(`${testId}-event-all`) });
  const boxes = EVENT_TYPES.map((type) => el("input", { type: "checkbox", name: "enabled_events", value: type,
    checked: selected.includes(type), "data-event": type, ...tid(`${testId}-event-${type.replace(/\./g, "-")}`) }));
  const sync = () => {
    for (const box of boxes) box.disabled = all.checked;
  };
  all.addEventListener("change", sync);
  sync();
  const choice = (control, label, extra) => {
    control.id = uid("ev");
    return el("div", { class: "check" }, control, el("label", { for: control.id }, label, extra || ""));
  };
  const node = el("fieldset", { class: "field events", ...tid(`${testId}-events`) },
    el("legend", {}, "Events to send"),
    choice(all, "All events", el("span", { class: "muted" }, " (every type but webhook.test, new ones too)")),
    el("div", { class: "event-choices" }, boxes.map((box) => choice(box, code(box.value)))));
  return {
    node,
    first: () => (all.checked ? all : boxes[0]),
    value: () => (all.checked ? [EVERY] : boxes.filter((box) => box.checked).map((box) => box.value)),
    set(events) {
      all.checked = events.includes(EVERY);
      for (const box of boxes) box.checked = events.includes(box.value);
      sync();
    },
  };
}

/**
 * The endpoint form: create (no endpoint) or edit. onSubmit(body) makes the request and returns what to say
 * (or nothing, having moved on); an ApiError is shown in the form, the control it names marked and focused.
 */
export function endpointForm({ endpoint, testId, title, submitLabel, onSubmit }) {
  const url = el("input", { type: "url", name: "url", value: endpoint ? endpoint.url : "", autocomplete: "off",
    placeholder: "https://shop.example/hooks/paygate", spellcheck: "false", autocapitalize: "off",
    ...tid(`${testId}-url`) });
  const description = el("input", { name: "description", maxlength: "500", autocomplete: "off",
    value: endpoint && endpoint.description ? endpoint.description : "", ...tid(`${testId}-description`) });
  const events = eventPicker(endpoint ? endpoint.enabled_events : [], testId);
  const box = messageBox(`${testId}-message`);
  const submit = el("button", { type: "submit", class: "button", ...tid(`${testId}-submit`) }, submitLabel);
  const form = el("form", { class: "panel endpoint-form", ...tid(testId), novalidate: true },
    el("h2", {}, title), box,
    field("Endpoint URL", url, "paygate POSTs the events chosen below here, signed with this endpoint's own secret."),
    events.node,
    field("Description (optional)", description),
    el("div", { class: "actions" }, submit));
  const controlFor = (name) => {
    if (name === "url") return url;
    if (name === "description") return description;
    if (name === "enabled_events" || name.startsWith("enabled_events.")) return events.first();
    return null;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const control of form.querySelectorAll("[aria-invalid]")) control.removeAttribute("aria-invalid");
    submit.disabled = true;
    showMessage(box, "");
    try {
      const said = await onSubmit({
        url: url.value.trim(), enabled_events: events.value(), description: description.value.trim() || null,
      });
      if (said) showMessage(box, said, "ok");
    } catch (err) {
      if (err instanceof SessionEnded) return;
      showMessage(box, describe(err));
      const control = err instanceof ApiError ? controlFor(err.field) : null;
      if (control) {
        control.setAttribute("aria-invalid", "true");
        control.focus();
      }
    } finally {
      submit.disabled = false;
    }
  });
  return {
    form,
    reset() {
      url.value = "";
      description.value = "";
      events.set([]);
    },
  };
}

/**
 * A signing secret, masked, with Reveal/Hide and Rotate (after a confirm step; the new secret shown once, and
 * until when the previous one still signs). reveal() answers the secret in full; rotate(key) the rotated object
 * as {secret, until}. onRotated(until) lets the page show the new overlap elsewhere too.
 */
export function signingSecretPanel({ masked, prefix, reveal, rotate, onRotated }) {
  const secret = code(masked, `${prefix}-secret`);
  const box = messageBox(`${prefix}-secret-message`);
  const revealButton = button("Reveal", `${prefix}-secret-reveal`, null, "button secondary");
  let shownMasked = masked;
  const hide = () => {
    secret.textContent = shownMasked;
    revealButton.textContent = "Reveal";
    revealButton.setAttribute("aria-pressed", "false");
  };
  hide();
  revealButton.addEventListener("click", async () => {
    showMessage(box, "");
    if (revealButton.getAttribute("aria-pressed") === "true") {
      hide();
      return;
    }
    revealButton.disabled = true;
    try {
      secret.textContent = await reveal();
      revealButton.textContent = "Hide";
      revealButton.setAttribute("aria-pressed", "true");
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
    } finally {
      revealButton.disabled = false;
    }
  });
  const fresh = el("div", { class: "once", ...tid(`${prefix}-new-secret-panel`) });
  fresh.hidden = true;
  const rotateButton = button("Rotate…", `${prefix}-secret-rotate`, null, "button secondary");
  const confirmPanel = confirmBox(
    "Rotate this signing secret? paygate signs with both the old and the new secret for a while, so you can switch " +
    "your receiver over.",
    "Rotate secret", `${prefix}-secret-rotate-confirm`, `${prefix}-secret-rotate-cancel`,
    async (key) => {
      const rotated = await rotate(key);
      shownMasked = `whsec_…${String(rotated.secret).slice(-4)}`;
      hide();
      fresh.replaceChildren(
        el("p", { class: "warning", role: "alert" }, "Your new signing secret, shown this once:"),
        secretWithCopy(rotated.secret, `${prefix}-new-secret`),
        rotated.until
          ? el("p", { class: "muted", ...tid(`${prefix}-previous-valid-until`) },
            "The previous secret keeps signing too until ", when(rotated.until), ".")
          : "");
      fresh.hidden = false;
      if (onRotated) onRotated(rotated.until);
      fresh.querySelector("button")?.focus();
    }, box, rotateButton);
  rotateButton.addEventListener("click", () => confirmPanel.open());
  return el("div", { class: "panel", ...tid(`${prefix}-secret-panel`) },
    el("h2", {}, "Signing secret"), box,
    el("div", { class: "secret-row" }, secret, revealButton, rotateButton),
    confirmPanel.node, fresh);
}
