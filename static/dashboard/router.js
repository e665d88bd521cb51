// Routing: hash routes to page renderers, the showing page's polling timers, and focus after a page change.

import { state } from "./state.js";
import { el, flash, heading, tid, view } from "./dom.js";
import { ApiError, SessionEnded, describe, query } from "./api.js";

// Pages poll only while someone is using them, so an open tab does not keep an idle session alive.
const POLL_WHILE_ACTIVE_MS = 120_000;

// [pattern, render] pairs, registered by app.js: the pages import this module, so it does not import them.
const ROUTES = [];

export function addRoutes(routes) {
  ROUTES.push(...routes);
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/overview";
  const [path, search = ""] = raw.split("?");
  const params = Object.fromEntries(new URLSearchParams(search));
  return { path, params };
}

export function stopTimers() {
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
}

/** Run fn every ms while this page is showing. */
export function every(ms, generation, fn) {
  const timer = setInterval(() => {
    if (generation !== state.generation) {
      clearInterval(timer);
      return;
    }
    if (Date.now() - state.lastActivity > POLL_WHILE_ACTIVE_MS) return;
    fn();
  }, ms);
  state.timers.push(timer);
}

export async function route() {
  if (!state.session) return;
  if (location.hash && !location.hash.startsWith("#/")) return;
  const { path, params } = parseHash();
  stopTimers();
  state.generation += 1;
  const generation = state.generation;
  const top = path.split("/")[1] || "overview";
  for (const link of document.querySelectorAll("[data-test-id=nav] a")) {
    if (link.dataset.route === top) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const moved = state.lastRoute !== path;
  // On a fresh load the browser's own focus start is right (the skip link comes first); after
  // that, moving to another page puts focus on its title, for screen readers and the keyboard.
  const focusTitle = moved && state.lastRoute !== "";
  state.lastRoute = path;
  if (moved) flash("");
  const match = ROUTES.map(([pattern, render]) => [pattern.exec(path), render]).find(([m]) => m);
  let content;
  try {
    if (!match) {
      content = notFound("There is no such page.");
    } else {
      const [m, render] = match;
      content = await render({ id: m[1] ? decodeURIComponent(m[1]) : "", params, generation });
    }
  } catch (err) {
    if (err instanceof SessionEnded) return;
    content = err instanceof ApiError && err.status === 404
      ? notFound(describe(err))
      : el("section", {}, heading("Something went wrong"),
        el("p", { class: "message error", role: "alert", ...tid("page-error") }, describe(err)));
  }
  if (generation !== state.generation || !content) return;
  const restore = focusedControl();
  view().replaceChildren(content);
  document.title = `${(content.querySelector("h1") || {}).textContent || "Dashboard"} · paygate`;
  const title = content.querySelector("[data-test-id=page-title]");
  if (focusTitle && title) title.focus();
  else if (restore) restore(content);
}

/** When a page is drawn again in place, focus returns to the same control (same test id, same row). */
function focusedControl() {
  const active = document.activeElement;
  if (!active || active === document.body || !view().contains(active)) return null;
  const key = active.getAttribute("data-test-id");
  if (!key) return null;
  const row = active.closest("[data-id]");
  const rowId = row ? row.getAttribute("data-id") : null;
  return (content) => {
    const scope = rowId ? content.querySelector(`[data-id="${CSS.escape(rowId)}"]`) : content;
    const target = scope && scope.querySelector(`[data-test-id="${CSS.escape(key)}"]`);
    if (target) target.focus();
  };
}

function notFound(detail) {
  return el("section", tid("not-found"), heading("Not found"),
    el("p", { role: "alert" }, detail || "Nothing here."),
    el("p", {}, el("a", { href: "#/overview" }, "Back to the overview")));
}

/** Go to #/path?params (re-renders; the same hash re-renders too). */
export function go(path, params = {}) {
  const target = `#${path}${query(params)}`;
  if (location.hash === target) route();
  else location.hash = target;
}

/** Re-render the current page unless the user is typing in it. */
export function refreshIfIdle() {
  const active = document.activeElement;
  if (active && view().contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName)) return;
  route();
}
