// API keys: the public key, and rotating the secret (shown once), with a grace period for the old one.

import { state } from "./state.js";
import { button, code, el, field, flash, heading, messageBox, select, tid } from "./dom.js";
import { api } from "./api.js";
import { when } from "./format.js";
import { confirmBox, secretWithCopy } from "./widgets.js";

// How long the old secret keeps working after a rotation, in seconds (the server takes up to 30 days).
const GRACES = [["0", "None: it stops at once"], ["3600", "1 hour"], ["86400", "24 hours"], ["604800", "7 days"]];
const DEFAULT_GRACE = "86400";

export async function renderKeys() {
  const [merchant, secret] = await Promise.all([api("GET", "/api/v1/merchant"), api("GET", "/dashboard/api/api-secret")]);
  state.session.merchant = { ...state.session.merchant, ...merchant };
  const box = messageBox("keys-message");
  const previous = el("p", { class: "notice", role: "status", ...tid("keys-previous-until") });
  const showPrevious = (until) => {
    previous.replaceChildren(...(until ? ["Your previous secret keeps working until ", when(until), "."] : []));
    previous.hidden = !until;
  };
  showPrevious(secret.previous_secret_expires_at);
  const fresh = el("div", { class: "once", ...tid("keys-new-secret-panel") });
  fresh.hidden = true;
  const grace = select("grace", GRACES, DEFAULT_GRACE, "keys-grace");
  const rotate = button("Rotate secret…", "keys-rotate-button", null, "button secondary");
  const confirmPanel = confirmBox(
    "Rotate the API secret? The current secret stops working when the period you chose ends (at once with none): " +
    "every server that uses it must get the new one by then. Other dashboard sessions end now.",
    "Rotate now", "keys-rotate-confirm", "keys-rotate-cancel",
    async (key) => {
      const rotated = await api("POST", "/dashboard/api/api-secret/rotate", { grace: Number(grace.value) },
        { idempotencyKey: key });
      const until = rotated.previous_secret_expires_at;
      fresh.replaceChildren(
        el("p", { class: "warning", role: "alert" },
          "Copy your new API secret now: it is shown only this once, and ",
          ...(until ? ["the old one keeps working until ", when(until), "."] : ["the old one no longer works."])),
        secretWithCopy(rotated.api_secret, "keys-new-secret"));
      fresh.hidden = false;
      showPrevious(until);
      fresh.querySelector("button")?.focus();
    }, box, rotate);
  rotate.addEventListener("click", () => confirmPanel.open());
  return el("section", tid("keys"), heading("API keys"),
    el("div", { class: "panel" },
      el("h2", {}, "Key"),
      el("div", { class: "secret-row" }, code(merchant.api_key, "keys-api-key"),
        button("Copy", "keys-api-key-copy", () => navigator.clipboard.writeText(merchant.api_key).then(
          () => flash("API key copied."), () => flash("Copy failed: select the key and press Ctrl+C.")), "button secondary")),
      el("p", { class: "muted" }, "The key is public (checkout uses it); the secret is not. Send both as X-Api-Key and X-Api-Secret."),
      rateLimitLine(merchant.api_rate_limit)),
    el("div", { class: "panel" },
      el("h2", {}, "Secret"),
      el("p", {}, "paygate keeps only a hash of your secret, so it cannot show it again. Rotate it if it may have leaked."),
      previous,
      graceField(grace),
      box, el("div", { class: "actions" }, rotate), confirmPanel.node, fresh));
}

function graceField(control) {
  const wrapper = field("Old secret keeps working for", control,
    "Time to put the new secret on your servers; both work until then. Rotating again ends the old one at once.");
  wrapper.classList.add("short-field");
  return wrapper;
}

/** What the merchant may send with its key: its own limit, paygate's default, or none. */
function rateLimitLine(limit) {
  if (!limit) return el("p", tid("keys-rate-limit"), "No API rate limit.");
  const count = (n, one, many) => `${n} ${n === 1 ? one : many}`;
  return el("p", tid("keys-rate-limit"),
    `API rate limit: ${count(limit.per_second, "request", "requests")} a second, ${limit.burst} at once `,
    limit.own ? "(set for this merchant)." : "(the default).",
    el("span", { class: "muted" }, " Requests over it are answered 429 with Retry-After; the dashboard's own do not count."));
}
