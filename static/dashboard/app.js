// paygate merchant dashboard: one page, hash routes, no build step, no framework, no other host.
// Every piece of server-provided text reaches the page through textContent (el(), text nodes):
// no HTML string is ever parsed.
//
// The dashboard is native ES modules from this folder, loaded as they are (no bundler). This entry module wires
// them together: it registers each page's routes with the router (which imports no page, so no import runs in a
// circle), hands the session's reactions to the API client, and starts. Every request goes to this origin.

import { onSession } from "./api.js";
import { addRoutes, route } from "./router.js";
import { enterSession, renderSignIn, sessionEnded, signOut, touch } from "./session.js";
import { state } from "./state.js";
import { renderOverview } from "./page-overview.js";
import { renderPayment, renderPayments } from "./page-payments.js";
import { renderRefund, renderRefunds } from "./page-refunds.js";
import { renderOrder, renderOrders } from "./page-orders.js";
import { renderWebhooks } from "./page-webhooks.js";
import { renderDelivery } from "./page-delivery.js";
import { renderEndpoints } from "./page-endpoints.js";
import { renderEndpoint } from "./page-endpoint.js";
import { renderKeys } from "./page-keys.js";
import { renderDocs } from "./page-docs.js";

addRoutes([
  [/^\/overview$/, renderOverview],
  [/^\/payments$/, renderPayments],
  [/^\/payments\/([^/]+)$/, renderPayment],
  [/^\/refunds$/, renderRefunds],
  [/^\/refunds\/([^/]+)$/, renderRefund],
  [/^\/orders$/, renderOrders],
  [/^\/orders\/([^/]+)$/, renderOrder],
  [/^\/webhooks$/, renderWebhooks],
  // Before the delivery route, which "endpoints" would match too (the first match wins).
  [/^\/webhooks\/endpoints$/, renderEndpoints],
  [/^\/webhooks\/endpoints\/([^/]+)$/, renderEndpoint],
  [/^\/webhooks\/([^/]+)$/, renderDelivery],
  [/^\/keys$/, renderKeys],
  [/^\/docs$/, renderDocs],
  [/^\/docs\/([^/]+)$/, renderDocs],
]);

// A 401 anywhere but at sign-in ends the session in the UI; every other answer keeps its idle check going.
onSession({ ended: sessionEnded, answered: touch });

async function start() {
  document.querySelector("[data-test-id=sign-out-button]").addEventListener("click", signOut);
  document.querySelector("[data-test-id=skip-link]").addEventListener("click", (event) => {
    event.preventDefault();
    const main = document.getElementById("main");
    const title = main.querySelector("[data-test-id=page-title]");
    (title || main).focus();
  });
  window.addEventListener("hashchange", () => route());
  for (const type of ["keydown", "pointerdown"]) {
    document.addEventListener(type, () => {
      state.lastActivity = Date.now();
      if (state.session) touch();
    }, { passive: true });
  }
  let session = null;
  try {
    // 200 either way: {"signed_in": false} without a session, so a signed-out load logs no error.
    const response = await fetch("/dashboard/api/session", { credentials: "same-origin", cache: "no-store",
      headers: { Accept: "application/json" } });
    if (response.ok) session = await response.json();
  } catch (err) {
    session = null;
  }
  if (session && session.signed_in) {
    enterSession(session);
    if (!location.hash.startsWith("#/")) history.replaceState(null, "", "#/overview");
    route();
  } else {
    renderSignIn();
  }
}

start();
