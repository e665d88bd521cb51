// The session: the sign-in form, signing out, the idle check, and the parts of the page shown only when signed in.

import { state } from "./state.js";
import { el, field, flash, messageBox, showMessage, tid, view } from "./dom.js";
import { ApiError, api, describe } from "./api.js";
import { route, stopTimers } from "./router.js";

export function touch() {
  if (!state.session) return;
  clearTimeout(state.idleTimer);
  const seconds = Number(state.session.idle_timeout) || 0;
  if (seconds > 0) {
    // The server decides; this only asks it once the idle time is up, so the form shows promptly.
    state.idleTimer = setTimeout(() => {
      api("GET", "/dashboard/api/session").then((s) => { if (!s.signed_in) sessionEnded(); }).catch(() => {});
    }, (seconds + 1) * 1000);
  }
}

export function enterSession(session) {
  state.session = session;
  document.querySelector("[data-test-id=merchant-name]").textContent = session.merchant.name;
  document.querySelector("[data-test-id=merchant-name]").hidden = false;
  document.querySelector("[data-test-id=sign-out-button]").hidden = false;
  document.querySelector("[data-test-id=nav]").hidden = false;
  touch();
}

function leaveSession() {
  state.session = null;
  clearTimeout(state.idleTimer);
  stopTimers();
  document.querySelector("[data-test-id=merchant-name]").hidden = true;
  document.querySelector("[data-test-id=sign-out-button]").hidden = true;
  document.querySelector("[data-test-id=nav]").hidden = true;
}

export function sessionEnded() {
  // Several requests of one page may answer 401 together: the first one shows the form.
  if (!state.session && document.querySelector("[data-test-id=sign-in-form]")) return;
  leaveSession();
  renderSignIn("Your session ended; sign in again.");
}

export async function signOut() {
  const token = state.session ? state.session.csrf_token : "";
  try {
    await fetch("/dashboard/api/session", {
      method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": token },
    });
  } catch (err) {
    // Signed out locally either way; the cookie dies with its idle time.
  }
  leaveSession();
  // Whoever signs in next starts at the overview, not on the page this merchant left open.
  history.replaceState(null, "", "#/overview");
  renderSignIn("You are signed out.", "info");
}

export function renderSignIn(message = "", kind = "error") {
  stopTimers();
  state.generation += 1;
  flash("");
  const key = el("input", { name: "api_key", autocomplete: "username", required: true, spellcheck: "false",
    autocapitalize: "off", ...tid("sign-in-key") });
  const secret = el("input", { name: "api_secret", type: "password", autocomplete: "current-password",
    required: true, ...tid("sign-in-secret") });
  const box = messageBox("sign-in-message");
  const submit = el("button", { type: "submit", class: "button", ...tid("sign-in-button") }, "Sign in");
  const form = el("form", { class: "panel sign-in", ...tid("sign-in-form"), novalidate: true },
    el("h1", { tabindex: "-1", ...tid("page-title") }, "Sign in"),
    el("p", { class: "muted" }, "Use your paygate API key and secret."),
    box,
    field("API key", key),
    field("API secret", secret),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!key.value.trim() || !secret.value) {
      showMessage(box, "Enter both the API key and the API secret.");
      (key.value.trim() ? secret : key).focus();
      return;
    }
    submit.disabled = true;
    showMessage(box, "");
    try {
      const session = await api("POST", "/dashboard/api/session",
        { api_key: key.value.trim(), api_secret: secret.value }, { signIn: true });
      enterSession(session);
      state.lastRoute = "#signed-in";  // the form had focus: the next page's title takes it
      const target = location.hash.startsWith("#/") ? location.hash : "#/overview";
      if (location.hash !== target) location.hash = target;
      else route();
    } catch (err) {
      let text = describe(err);
      if (err instanceof ApiError && err.status === 429 && err.retryAfter && !/try again/i.test(err.description)) {
        text = `${err.description} Try again in ${err.retryAfter} seconds.`;
      }
      showMessage(box, text);
      secret.value = "";
      secret.focus();
    } finally {
      submit.disabled = false;
    }
  });
  if (message) showMessage(box, message, kind);
  view().replaceChildren(form);
  key.focus();
}
