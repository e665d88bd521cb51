// Widgets several pages share that make requests (so they live apart from dom.js, which imports nothing):
// the inline "are you sure?" step and a secret shown once with its Copy button.

import { button, el, showMessage, tid } from "./dom.js";
import { SessionEnded, describe, newKey } from "./api.js";

/**
 * An inline "are you sure?" with Confirm/Cancel: confirmBox(...).open() shows it. cancelLabel names the way out
 * where "Cancel" would be ambiguous (cancelling a payment).
 */
export function confirmBox(text, confirmLabel, confirmId, cancelId, action, box, opener, cancelLabel = "Cancel") {
  const confirmButton = button(confirmLabel, confirmId, null, "button danger");
  const cancel = button(cancelLabel, cancelId, null, "button secondary");
  const node = el("div", { class: "confirm", role: "group", "aria-label": "Confirm", ...tid(`${confirmId}-panel`) },
    el("p", {}, text), el("div", { class: "actions" }, confirmButton, cancel));
  node.hidden = true;
  const close = () => {
    node.hidden = true;
    opener.focus();
  };
  cancel.addEventListener("click", close);
  confirmButton.addEventListener("click", async () => {
    confirmButton.disabled = true;
    showMessage(box, "");
    try {
      await action(newKey());
      node.hidden = true;
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
    } finally {
      confirmButton.disabled = false;
    }
  });
  return { node, open: () => { node.hidden = false; confirmButton.focus(); } };
}

export function secretWithCopy(value, testId) {
  const shown = el("code", { class: "secret", ...tid(testId) }, value);
  const status = el("span", { class: "muted", role: "status", ...tid(`${testId}-copied`) });
  const copy = button("Copy", `${testId}-copy`, async () => {
    try {
      await navigator.clipboard.writeText(value);
      status.textContent = "Copied.";
    } catch (err) {
      // No clipboard (permissions, insecure origin): select the text so Ctrl+C works.
      const range = document.createRange();
      range.selectNodeContents(shown);
      const selection = getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      status.textContent = "Selected: press Ctrl+C to copy.";
    }
  }, "button secondary");
  return el("div", { class: "secret-row" }, shown, copy, status);
}
