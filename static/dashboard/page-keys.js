// API keys: the public key, and rotating the secret (shown once).

import { state } from "./state.js";
import { button, code, el, flash, heading, messageBox, tid } from "./dom.js";
import { api } from "./api.js";
import { confirmBox, secretWithCopy } from "./widgets.js";

export async function renderKeys() {
  const merchant = await api("GET", "/api/v1/merchant");
  state.session.merchant = { ...state.session.merchant, ...merchant };
  const box = messageBox("keys-message");
  const fresh = el("div", { class: "once", ...tid("keys-new-secret-panel") });
  fresh.hidden = true;
  const rotate = button("Rotate secret…", "keys-rotate-button", null, "button secondary");
  const confirmPanel = confirmBox(
    "Rotate the API secret? The current secret stops working at once: every server that uses it must get the new one.",
    "Rotate now", "keys-rotate-confirm", "keys-rotate-cancel",
    async (key) => {
      const rotated = await api("POST", "/dashboard/api/api-secret/rotate", undefined, { idempotencyKey: key });
      fresh.replaceChildren(
        el("p", { class: "warning", role: "alert" },
          "Copy your new API secret now: it is shown only this once, and the old one no longer works."),
        secretWithCopy(rotated.api_secret, "keys-new-secret"));
      fresh.hidden = false;
      fresh.querySelector("button")?.focus();
    }, box, rotate);
  rotate.addEventListener("click", () => confirmPanel.open());
  return el("section", tid("keys"), heading("API keys"),
    el("div", { class: "panel" },
      el("h2", {}, "Key"),
      el("div", { class: "secret-row" }, code(merchant.api_key, "keys-api-key"),
        button("Copy", "keys-api-key-copy", () => navigator.clipboard.writeText(merchant.api_key).then(
          () => flash("API key copied."), () => flash("Copy failed: select the key and press Ctrl+C.")), "button secondary")),
      el("p", { class: "muted" }, "The key is public (checkout uses it); the secret is not. Send both as X-Api-Key and X-Api-Secret.")),
    el("div", { class: "panel" },
      el("h2", {}, "Secret"),
      el("p", {}, "paygate keeps only a hash of your secret, so it cannot show it again. Rotate it if it may have leaked."),
      box, el("div", { class: "actions" }, rotate), confirmPanel.node, fresh));
}
