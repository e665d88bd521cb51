// paygate merchant dashboard: one page, hash routes, no build step, no framework, no other host.
// Every piece of server-provided text reaches the page through textContent (el(), text nodes):
// no HTML string is ever parsed.

const SVG_NS = "http://www.w3.org/2000/svg";
const PAGE_SIZE = 20;

// Minor-unit exponents that are not 2, as paygate/currencies.py has them (the server's table wins
// over Intl's, which differs for a few codes).
const EXPONENTS = {
  BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0,
  KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0,
  XOF: 0, XPF: 0,
};
// Where an id in a path points, for the docs' curl examples.
const ID_EXAMPLES = {
  orders: "order_4fJ2kQ9xLmN7pR1s", payments: "pay_4fJ2kQ9xLmN7pR1s", refunds: "rfnd_4fJ2kQ9xLmN7pR1s",
  events: "evt_4fJ2kQ9xLmN7pR1s", webhooks: "whd_4fJ2kQ9xLmN7pR1s",
};

const state = { session: null, generation: 0, timers: [], idleTimer: null, lastRoute: "", lastActivity: Date.now() };
// Pages poll only while someone is using them, so an open tab does not keep an idle session alive.
const POLL_WHILE_ACTIVE_MS = 120_000;
const view = () => document.getElementById("view");

// ---------------------------------------------------------------------------------------------
// DOM helpers

/** el("a", {href: "#/x", "data-test-id": "y"}, "text", child…): attributes as attributes, children as text. */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function svg(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

function setAttrs(node, attrs) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "class") node.setAttribute("class", value);
    else if (name === "value" || name === "checked") node[name] = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

function tid(name) {
  return { "data-test-id": name };
}

let uniqueCounter = 0;
function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form control: returns [wrapper, control]. */
function field(label, control, hint) {
  const id = control.id || uid("f");
  control.id = id;
  const wrapper = el("div", { class: "field" }, el("label", { for: id }, label), control);
  if (hint) {
    const hintId = `${id}-hint`;
    wrapper.append(el("p", { class: "hint", id: hintId }, hint));
    control.setAttribute("aria-describedby", hintId);
  }
  return wrapper;
}

function select(name, options, current, testId) {
  const control = el("select", { name, ...tid(testId) });
  for (const [value, label] of options) {
    control.append(el("option", { value }, label));
  }
  control.value = current || "";
  return control;
}

function button(label, testId, onclick, cls = "button") {
  return el("button", { type: "button", class: cls, ...tid(testId), onclick }, label);
}

/** A message box under a form: role=alert for errors, status otherwise. */
function messageBox(testId) {
  const box = el("div", { class: "message", role: "alert", ...tid(testId) });
  box.hidden = true;
  return box;
}

function showMessage(box, text, kind = "error") {
  box.replaceChildren(text);
  box.className = `message ${kind}`;
  box.hidden = !text;
}

function flash(text) {
  const region = document.querySelector("[data-test-id=flash]");
  region.replaceChildren(text ? el("p", {}, text) : "");
}

function tableWrap(label, table, testId) {
  return el("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0", ...tid(testId) }, table);
}

function table(columns, rows, testId) {
  const head = el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c))));
  const body = el("tbody", {}, rows);
  return el("table", { class: "data", ...tid(testId) }, head, body);
}

/** A <tr> whose cells carry data-label, so the stacked phone layout can name them. */
function row(columns, cells, attrs = {}) {
  return el("tr", attrs, cells.map((cell, i) => el("td", { "data-label": columns[i] }, cell)));
}

function definitionList(pairs, testId) {
  const list = el("dl", { class: "fields", ...tid(testId) });
  for (const [term, value, key] of pairs) {
    list.append(el("div", { class: "pair" }, el("dt", {}, term),
      el("dd", key ? tid(`field-${key}`) : {}, value === null || value === undefined || value === "" ? "—" : value)));
  }
  return list;
}

// Every status a payment or refund can have (paygate/states.py), in the order they happen: the list filters
// offer each one, so a payment in any state can be found.
const PAYMENT_STATUSES = [["pending", "Pending"], ["processing", "Processing"], ["success", "Success"],
  ["capture_pending", "Capture pending"], ["void_pending", "Cancellation pending"], ["failed", "Failed"],
  ["voided", "Voided"]];
const REFUND_STATUSES = [["pending", "Pending"], ["processing", "Processing"], ["processed", "Processed"],
  ["failed", "Failed"]];
// Not final yet: a page showing one of these looks again until the worker settles it.
const UNSETTLED = new Set(["pending", "processing", "capture_pending", "void_pending"]);

function statusBadge(status) {
  return el("span", { class: `badge status-${String(status).replace(/[^a-z_]/g, "")}`, ...tid("status") }, status);
}

function code(text, testId) {
  return el("code", testId ? tid(testId) : {}, text);
}

function heading(text) {
  return el("h1", { tabindex: "-1", ...tid("page-title") }, text);
}

// ---------------------------------------------------------------------------------------------
// Formatting

function exponent(currency) {
  return Object.prototype.hasOwnProperty.call(EXPONENTS, currency) ? EXPONENTS[currency] : 2;
}

/** Integer minor units → "INR 1,234.50". */
function money(amount, currency) {
  if (amount === null || amount === undefined) return "—";
  const places = exponent(currency);
  const sign = amount < 0 ? "-" : "";
  const abs = Math.abs(amount);
  const scale = 10 ** places;
  const major = Math.floor(abs / scale).toLocaleString("en-US");
  const minor = places ? "." + String(abs % scale).padStart(places, "0") : "";
  return `${currency} ${sign}${major}${minor}`;
}

/** "12.50" in major units → 1250 minor units, or null when it is not a plain amount. */
function parseMajor(text, currency) {
  const places = exponent(currency);
  const cleaned = String(text).trim().replace(/,/g, "");
  const pattern = places ? new RegExp(`^(\\d+)(?:\\.(\\d{0,${places}}))?$`) : /^(\d+)$/;
  const match = pattern.exec(cleaned);
  if (!match) return null;
  const minor = (match[2] || "").padEnd(places, "0");
  const value = Number(match[1]) * 10 ** places + Number(minor || 0);
  return Number.isSafeInteger(value) ? value : null;
}

function majorString(amount, currency) {
  return money(amount, currency).replace(/^[A-Z]{3} /, "").replace(/,/g, "");
}

function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const shown = date.toLocaleString("en-GB", {
    year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return el("time", { datetime: iso, title: iso }, shown);
}

function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, error) {
    super(error.description || `request failed (${status})`);
    this.description = this.message;
    this.status = status;
    this.code = error.code || "";
    this.field = error.field || "";
    this.requestId = error.request_id || "";
    this.retryAfter = error.retryAfter || "";
  }
}

class SessionEnded extends Error {}

/**
 * fetch() for paygate's JSON: the session cookie goes along (same origin), every write carries the
 * CSRF token, and POSTs an Idempotency-Key (one per user action: pass the action's key).
 * A 401 anywhere but at sign-in ends the session in the UI.
 */
async function api(method, path, body, { idempotencyKey, signIn = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
  if (method === "POST" && !signIn) headers["Idempotency-Key"] = idempotencyKey || newKey();
  let response;
  try {
    response = await fetch(path, {
      method, headers, credentials: "same-origin", cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (err) {
    throw new ApiError(0, { code: "NETWORK_ERROR", description: "paygate could not be reached; try again" });
  }
  if (response.status === 401 && !signIn) {
    sessionEnded();
    throw new SessionEnded("session ended");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    const error = (data && data.error) || { description: `paygate answered ${response.status}` };
    throw new ApiError(response.status, { ...error, retryAfter: response.headers.get("Retry-After") || "" });
  }
  touch();
  return data;
}

function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function query(params) {
  const parts = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === "" || value === null || value === undefined) continue;
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** An error as the page shows it: the API's description, and its request id to quote. */
function describe(err) {
  if (err instanceof ApiError) {
    const suffix = err.requestId ? ` (request ${err.requestId})` : "";
    return `${err.description}${suffix}`;
  }
  return String(err && err.message ? err.message : err);
}

// ---------------------------------------------------------------------------------------------
// Session

function touch() {
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

function enterSession(session) {
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

function sessionEnded() {
  // Several requests of one page may answer 401 together: the first one shows the form.
  if (!state.session && document.querySelector("[data-test-id=sign-in-form]")) return;
  leaveSession();
  renderSignIn("Your session ended; sign in again.");
}

async function signOut() {
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

function renderSignIn(message = "", kind = "error") {
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

// ---------------------------------------------------------------------------------------------
// Routing

const ROUTES = [
  [/^\/overview$/, renderOverview],
  [/^\/payments$/, renderPayments],
  [/^\/payments\/([^/]+)$/, renderPayment],
  [/^\/refunds$/, renderRefunds],
  [/^\/refunds\/([^/]+)$/, renderRefund],
  [/^\/orders$/, renderOrders],
  [/^\/orders\/([^/]+)$/, renderOrder],
  [/^\/webhooks$/, renderWebhooks],
  [/^\/webhooks\/([^/]+)$/, renderDelivery],
  [/^\/keys$/, renderKeys],
  [/^\/docs$/, renderDocs],
  [/^\/docs\/([^/]+)$/, renderDocs],
];

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/overview";
  const [path, search = ""] = raw.split("?");
  const params = Object.fromEntries(new URLSearchParams(search));
  return { path, params };
}

function stopTimers() {
  for (const timer of state.timers) clearInterval(timer);
  state.timers = [];
}

/** Run fn every ms while this page is showing. */
function every(ms, generation, fn) {
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

async function route() {
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
function go(path, params = {}) {
  const target = `#${path}${query(params)}`;
  if (location.hash === target) route();
  else location.hash = target;
}

// ---------------------------------------------------------------------------------------------
// Overview

async function renderOverview() {
  const data = await api("GET", "/dashboard/api/overview");
  const section = el("section", tid("overview"), heading("Overview"));
  const summaries = el("div", { class: "cards" },
    summaryCard("Today", data.today, "overview-today"),
    summaryCard("Last 7 days", data.last_7_days, "overview-week"));
  section.append(summaries, chart(data.daily || []));
  return section;
}

function summaryCard(title, s, testId) {
  const volumes = Object.entries(s.volume || {});
  const volume = volumes.length
    ? volumes.map(([currency, amount]) => el("div", { ...tid(`${testId}-volume-${currency}`) }, money(amount, currency)))
    : el("div", { class: "muted" }, money(0, "INR"));
  const counts = el("ul", { class: "counts" });
  // The usual four and voided always; a capture or cancellation at the processor only while there is one.
  const always = ["pending", "processing", "success", "failed", "voided"];
  for (const [status, n] of Object.entries(s.counts || {})) {
    if (!always.includes(status) && !n) continue;
    counts.append(el("li", {}, statusBadge(status), " ", el("strong", tid(`${testId}-count-${status}`), String(n))));
  }
  return el("article", { class: "card", ...tid(testId) },
    el("h2", {}, title),
    el("div", { class: "metric" }, el("span", { class: "metric-label" }, "Volume"),
      el("div", { class: "metric-value", ...tid(`${testId}-volume`) }, volume)),
    el("div", { class: "metric-row" },
      el("div", { class: "metric" }, el("span", { class: "metric-label" }, "Payments"),
        el("div", { class: "metric-value", ...tid(`${testId}-total`) }, String(s.total || 0))),
      el("div", { class: "metric" }, el("span", { class: "metric-label" }, "Success rate"),
        el("div", { class: "metric-value", ...tid(`${testId}-success-rate`) }, percent(s.success_rate)))),
    counts);
}

/**
 * Volume per day (one currency: the one with the most volume), a row per day: day, bar, amount.
 * The day and the amount are HTML text, not text inside a scaled SVG, so they keep their size on a
 * phone; only the bar is SVG, sized in percent of its row.
 */
function chart(daily) {
  const totals = {};
  for (const day of daily) {
    for (const [currency, amount] of Object.entries(day.volume || {})) totals[currency] = (totals[currency] || 0) + amount;
  }
  const currency = Object.keys(totals).sort((a, b) => totals[b] - totals[a])[0] || "INR";
  const others = Object.keys(totals).filter((c) => c !== currency);
  const values = daily.map((day) => (day.volume || {})[currency] || 0);
  const max = Math.max(1, ...values);
  const titleId = uid("chart-title");
  const descId = uid("chart-desc");
  const summary = daily.map((day, i) => `${day.date}: ${money(values[i], currency)}`).join("; ");
  const graphic = el("ol", { class: "chart", role: "img", "aria-labelledby": `${titleId} ${descId}`, ...tid("overview-chart") });
  daily.forEach((day, i) => {
    // A day with any volume gets a sliver of bar at least, so it never reads as nothing.
    const share = values[i] ? Math.max(0.5, (values[i] / max) * 100) : 0;
    const label = new Date(`${day.date}T00:00:00Z`).toLocaleDateString("en-GB", { weekday: "short", day: "numeric", timeZone: "UTC" });
    graphic.append(el("li", { class: "chart-row", "data-date": day.date, ...tid("chart-day") },
      el("span", { class: "bar-label" }, label),
      svg("svg", { class: "bar-track", focusable: "false" },
        svg("rect", { width: "100%", height: "100%", rx: 3, class: "track" }),
        svg("rect", { width: `${share.toFixed(2)}%`, height: "100%", rx: 3, class: "bar",
          "data-date": day.date, "data-volume": values[i], ...tid("chart-bar") },
        svg("title", {}, `${day.date}: ${money(values[i], currency)}, ${day.count} payments`))),
      el("span", { class: values[i] ? "bar-value" : "bar-value zero", ...tid("chart-value") }, money(values[i], currency))));
  });
  // The same numbers as text: a table, for screen readers and for anyone who wants exact figures.
  const columns = ["Date", `Volume (${currency})`, "Payments"];
  const rows = daily.map((day, i) => row(columns, [day.date, money(values[i], currency), String(day.count)], tid("chart-table-row")));
  const alternative = el("details", { class: "chart-data", ...tid("chart-data") },
    el("summary", {}, "Show the chart's numbers"),
    tableWrap("Volume per day", table(columns, rows, "chart-table"), "chart-table-wrap"));
  return el("figure", { class: "panel chart-figure" },
    el("figcaption", {}, `Volume per day (${currency})`,
      others.length ? el("span", { class: "muted" }, ` · also taken: ${others.join(", ")}`) : ""),
    // The chart's name and description for screen readers (hidden text still names it).
    el("span", { id: titleId, hidden: true }, `Volume per day in ${currency}, last ${daily.length} days`),
    el("span", { id: descId, hidden: true }, summary),
    graphic, alternative);
}

// ---------------------------------------------------------------------------------------------
// Lists with filters and pages

/** A filter form that rewrites the hash; fields: [name, label, control]. */
function filterForm(path, params, fields, testId) {
  const form = el("form", { class: "filters", ...tid(testId), role: "search" },
    fields.map(([, label, control]) => field(label, control)),
    el("div", { class: "actions" },
      el("button", { type: "submit", class: "button", ...tid(`${testId}-apply`) }, "Apply"),
      el("a", { href: `#${path}`, class: "button secondary", ...tid(`${testId}-clear`) }, "Clear")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = {};
    for (const [name, , control] of fields) next[name] = control.value.trim();
    go(path, next);
  });
  return form;
}

function pager(path, params, result, testId) {
  const offset = result.offset || 0;
  const shown = result.data.length;
  const info = result.total
    ? `${offset + 1}–${offset + shown} of ${result.total}`
    : "Nothing yet";
  const prev = button("← Previous", `${testId}-prev`, () => go(path, { ...params, offset: Math.max(0, offset - PAGE_SIZE) }), "button secondary");
  const next = button("Next →", `${testId}-next`, () => go(path, { ...params, offset: offset + PAGE_SIZE }), "button secondary");
  prev.disabled = offset <= 0;
  next.disabled = offset + shown >= result.total;
  return el("nav", { class: "pager", "aria-label": "Pages" },
    prev, el("span", { class: "pager-info", ...tid(`${testId}-total`) }, info), next);
}

function dateParams(params) {
  // Dates from <input type=date> are the merchant's local days.
  const out = {};
  if (params.from) out.from = new Date(`${params.from}T00:00:00`).toISOString();
  if (params.to) out.to = new Date(`${params.to}T23:59:59.999`).toISOString();
  return out;
}

function linkTo(kind, id) {
  return el("a", { href: `#/${kind}/${encodeURIComponent(id)}`, class: "id-link", ...tid(`${kind}-link`) }, id);
}

// ---------------------------------------------------------------------------------------------
// Payments

async function renderPayments({ params }) {
  const offset = Number(params.offset) || 0;
  const result = await api("GET", `/api/v1/payments${query({
    status: params.status, method: params.method, ...dateParams(params), limit: PAGE_SIZE, offset,
  })}`);
  const filters = filterForm("/payments", params, [
    ["status", "Status", select("status", [["", "Any"], ...PAYMENT_STATUSES], params.status, "payments-filter-status")],
    ["method", "Method", select("method", [["", "Any"], ["card", "Card"], ["upi", "UPI"]], params.method, "payments-filter-method")],
    ["from", "From", el("input", { type: "date", name: "from", value: params.from || "", ...tid("payments-filter-from") })],
    ["to", "To", el("input", { type: "date", name: "to", value: params.to || "", ...tid("payments-filter-to") })],
  ], "payments-filter");
  const columns = ["Payment", "Amount", "Status", "Method", "Captured", "Refunded", "Created"];
  const rows = result.data.map((p) => row(columns, [
    linkTo("payments", p.id), money(p.amount, p.currency), paymentStatus(p), methodText(p),
    p.captured ? money(p.amount_captured, p.currency) : "—",
    p.amount_refunded ? money(p.amount_refunded, p.currency) : "—", when(p.created_at),
  ], { "data-id": p.id, ...tid("payment-row") }));
  return el("section", tid("payments"), heading("Payments"), filters,
    result.data.length ? tableWrap("Payments", table(columns, rows, "payments-table"), "payments-table-wrap")
      : el("p", { class: "empty", ...tid("payments-empty") }, "No payments match."),
    pager("/payments", params, result, "payments"));
}

/** A list row's status: the badge and, for a failed payment, why it failed. */
function paymentStatus(p) {
  const reason = p.status === "failed" ? p.error_description || p.error_code : "";
  return el("span", { class: "status-cell" }, statusBadge(p.status),
    reason ? el("span", { class: "row-error", ...tid("payment-error") }, reason) : "");
}

function methodText(p) {
  if (p.method === "card" && p.card) return `${p.card.network} ···· ${p.card.last4}`;
  if (p.method === "upi") return `UPI ${p.vpa || ""}`.trim();
  return p.method;
}

function capturable(p) {
  return p.status === "success" && p.capture_method === "manual" && !p.captured && !p.authorization_released_at;
}

// Why an authorization was voided, in words (the payment's void_reason).
const VOID_REASONS = { requested: "requested", expired: "authorization expired" };
// A capture or cancellation the processor has not answered yet: paygate settles it, so no second one is offered.
const IN_PROGRESS = {
  capture_pending: "A capture of this payment is in progress at the processor; this page updates when its outcome is known.",
  void_pending: "A cancellation of this authorization is in progress at the processor; this page updates when its outcome is known.",
};

async function renderPayment({ id, generation }) {
  const [payment, refunds] = await Promise.all([
    api("GET", `/api/v1/payments/${encodeURIComponent(id)}`),
    api("GET", `/api/v1/payments/${encodeURIComponent(id)}/refunds`),
  ]);
  const refundList = refunds.data || [];
  const timeline = await eventTimeline([payment.id, ...refundList.map((r) => r.id)]);
  const section = el("section", tid("payment-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/payments" }, "Payments"), " / ", payment.id),
    heading(`Payment ${money(payment.amount, payment.currency)}`),
    definitionList([
      ["ID", code(payment.id), "id"],
      ["Status", statusBadge(payment.status), "status"],
      // The reason is set as the void begins: say it only once the authorization is released.
      ...(payment.status === "voided"
        ? [["Voided", VOID_REASONS[payment.void_reason] || payment.void_reason, "void-reason"]] : []),
      ["Amount", money(payment.amount, payment.currency), "amount"],
      ["Order", linkTo("orders", payment.order_id), "order"],
      ["Method", methodText(payment), "method"],
      ["Capture", payment.capture_method, "capture-method"],
      ["Captured", payment.captured ? money(payment.amount_captured, payment.currency) : "Not captured", "captured"],
      ["Refunded", money(payment.amount_refunded, payment.currency), "refunded"],
      ["Refund status", payment.refund_status, "refund-status"],
      ["Error", payment.error_code ? `${payment.error_code}: ${payment.error_description || ""}` : null, "error"],
      ["Created", when(payment.created_at), "created"],
      ["Captured at", when(payment.captured_at), "captured-at"],
      ["Authorization released", when(payment.authorization_released_at), "released-at"],
    ], "payment-fields"));
  if (IN_PROGRESS[payment.status]) {
    section.append(el("p", { class: "message pending", role: "status", ...tid("payment-in-progress") },
      IN_PROGRESS[payment.status]));
  }
  const actions = el("div", { class: "action-panels" });
  // An authorization still held is captured, or cancelled (voided) instead.
  if (capturable(payment)) actions.append(captureForm(payment), cancelPanel(payment));
  if (payment.captured && payment.amount_refunded < payment.amount_captured) actions.append(refundForm(payment));
  if (actions.childElementCount) section.append(actions);
  const refundColumns = ["Refund", "Amount", "Status", "Reason", "Created"];
  section.append(el("h2", {}, "Refunds"), refundList.length
    ? tableWrap("Refunds of this payment", table(refundColumns, refundList.map((r) => row(refundColumns, [
      linkTo("refunds", r.id), money(r.amount, r.currency), statusBadge(r.status), r.reason || "—", when(r.created_at),
    ], { "data-id": r.id, ...tid("payment-refund-row") })), "payment-refunds"), "payment-refunds-wrap")
    : el("p", { class: "empty", ...tid("payment-refunds-empty") }, "No refunds."));
  section.append(el("h2", {}, "Timeline"), timeline);
  // While something is still moving (a capture or cancellation at the processor too), look again every 2 s.
  if (UNSETTLED.has(payment.status) || refundList.some((r) => UNSETTLED.has(r.status))) {
    every(2000, generation, () => refreshIfIdle());
  }
  return section;
}

/** Re-render the current page unless the user is typing in it. */
function refreshIfIdle() {
  const active = document.activeElement;
  if (active && view().contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName)) return;
  route();
}

async function eventTimeline(objectIds) {
  const lists = await Promise.all(objectIds.map((objectId) =>
    api("GET", `/api/v1/events${query({ object_id: objectId, limit: 100 })}`)));
  const events = lists.flatMap((l) => l.data).sort((a, b) => a.created_at.localeCompare(b.created_at));
  if (!events.length) return el("p", { class: "empty", ...tid("timeline-empty") }, "No events yet.");
  return el("ol", { class: "timeline", ...tid("timeline") }, events.map((e) =>
    el("li", { "data-event": e.event, ...tid("timeline-event") },
      el("span", { class: "timeline-name" }, e.event), " ",
      el("span", { class: "muted" }, e.object_id), " ", when(e.created_at))));
}

function captureForm(payment) {
  const amount = el("input", { name: "amount", inputmode: "decimal", autocomplete: "off",
    value: majorString(payment.amount, payment.currency), ...tid("capture-amount") });
  const box = messageBox("capture-message");
  const submit = el("button", { type: "submit", class: "button", ...tid("capture-button") }, "Capture");
  const form = el("form", { class: "panel action", ...tid("capture-form"), novalidate: true },
    el("h2", {}, "Capture"),
    el("p", { class: "muted" }, `Authorized ${money(payment.amount, payment.currency)}; capture all of it or part of it, once. The rest is released.`),
    box,
    field(`Amount (${payment.currency})`, amount),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minor = parseMajor(amount.value, payment.currency);
    if (!minor || minor <= 0) {
      showMessage(box, `Enter an amount in ${payment.currency}, like ${majorString(payment.amount, payment.currency)}.`);
      amount.setAttribute("aria-invalid", "true");
      amount.focus();
      return;
    }
    amount.removeAttribute("aria-invalid");
    await submitAction(submit, box, async (key) => {
      const body = minor === payment.amount ? {} : { amount: minor };
      const answer = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/capture`, body, { idempotencyKey: key });
      // A 202 answers with the payment still capture_pending: the processor's answer did not come in time.
      flash(answer.status === "capture_pending"
        ? "The capture is pending at the processor; its outcome follows, and this page updates by itself."
        : `Captured ${money(minor, payment.currency)}.`);
    });
  });
  return form;
}

/** Cancel (void) an uncaptured authorization, after a confirm step: the shopper's funds are released. */
function cancelPanel(payment) {
  const amount = money(payment.amount, payment.currency);
  const box = messageBox("cancel-message");
  const open = button("Cancel authorization…", "cancel-button", null, "button secondary");
  const confirmPanel = confirmBox(
    `Cancel this authorization? ${amount} is released to the shopper and none of it can be captured any more.`,
    "Cancel authorization", "cancel-confirm", "cancel-keep",
    async (key) => {
      const answer = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/cancel`, {}, { idempotencyKey: key });
      // A 202 answers with the payment still void_pending: paygate asks the processor again and records the outcome.
      flash(answer.status === "void_pending"
        ? "The cancellation is pending at the processor; its outcome follows, and this page updates by itself."
        : `Authorization cancelled: ${amount} released.`);
      await route();
    }, box, open, "Keep it");
  open.addEventListener("click", () => confirmPanel.open());
  return el("div", { class: "panel action", ...tid("cancel-panel") },
    el("h2", {}, "Cancel authorization"),
    el("p", { class: "muted" }, `Release the authorized ${amount} without capturing any of it; the order can then be paid again.`),
    box,
    el("div", { class: "actions" }, open),
    confirmPanel.node);
}

function refundForm(payment) {
  const left = payment.amount_captured - payment.amount_refunded;
  const amount = el("input", { name: "amount", inputmode: "decimal", autocomplete: "off",
    value: majorString(left, payment.currency), ...tid("refund-amount") });
  const reason = el("input", { name: "reason", maxlength: "255", autocomplete: "off", ...tid("refund-reason") });
  const box = messageBox("refund-message");
  const submit = el("button", { type: "submit", class: "button", ...tid("refund-button") }, "Refund");
  const form = el("form", { class: "panel action", ...tid("refund-form"), novalidate: true },
    el("h2", {}, "Refund"),
    el("p", { class: "muted" }, `Up to ${money(left, payment.currency)} can still be refunded.`),
    box,
    field(`Amount (${payment.currency})`, amount),
    field("Reason (optional)", reason),
    el("div", { class: "actions" }, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const minor = parseMajor(amount.value, payment.currency);
    if (minor === null) {
      showMessage(box, `Enter an amount in ${payment.currency}, like ${majorString(left, payment.currency)}.`);
      amount.setAttribute("aria-invalid", "true");
      amount.focus();
      return;
    }
    amount.removeAttribute("aria-invalid");
    // Anything else (zero, more than is left) is for the server to say, in its own words.
    await submitAction(submit, box, async (key) => {
      const body = { amount: minor };
      if (reason.value.trim()) body.reason = reason.value.trim();
      const refund = await api("POST", `/api/v1/payments/${encodeURIComponent(payment.id)}/refunds`, body, { idempotencyKey: key });
      flash(`Refund ${refund.id} of ${money(refund.amount, refund.currency)} created.`);
    }, amount);
  });
  return form;
}

/** Run one user action with its own Idempotency-Key; show the API's error, or re-render on success. */
async function submitAction(submit, box, action, focusOnError) {
  submit.disabled = true;
  showMessage(box, "");
  const key = newKey();
  try {
    await action(key);
    await route();
  } catch (err) {
    if (err instanceof SessionEnded) return;
    showMessage(box, describe(err));
    if (focusOnError && err instanceof ApiError && err.field === "amount") {
      focusOnError.setAttribute("aria-invalid", "true");
      focusOnError.focus();
    }
  } finally {
    submit.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------------
// Refunds

async function renderRefunds({ params }) {
  const offset = Number(params.offset) || 0;
  const result = await api("GET", `/api/v1/refunds${query({
    status: params.status, payment_id: params.payment_id, ...dateParams(params), limit: PAGE_SIZE, offset,
  })}`);
  const filters = filterForm("/refunds", params, [
    ["status", "Status", select("status", [["", "Any"], ...REFUND_STATUSES], params.status, "refunds-filter-status")],
    ["payment_id", "Payment ID", el("input", { name: "payment_id", value: params.payment_id || "",
      spellcheck: "false", autocapitalize: "off", ...tid("refunds-filter-payment") })],
  ], "refunds-filter");
  const columns = ["Refund", "Payment", "Amount", "Status", "Reason", "Created"];
  const rows = result.data.map((r) => row(columns, [
    linkTo("refunds", r.id), linkTo("payments", r.payment_id), money(r.amount, r.currency), statusBadge(r.status),
    r.reason || "—", when(r.created_at),
  ], { "data-id": r.id, ...tid("refund-row") }));
  return el("section", tid("refunds"), heading("Refunds"), filters,
    result.data.length ? tableWrap("Refunds", table(columns, rows, "refunds-table"), "refunds-table-wrap")
      : el("p", { class: "empty", ...tid("refunds-empty") }, "No refunds match."),
    pager("/refunds", params, result, "refunds"));
}

async function renderRefund({ id, generation }) {
  const refund = await api("GET", `/api/v1/refunds/${encodeURIComponent(id)}`);
  const timeline = await eventTimeline([refund.id]);
  if (UNSETTLED.has(refund.status)) every(2000, generation, () => refreshIfIdle());
  return el("section", tid("refund-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/refunds" }, "Refunds"), " / ", refund.id),
    heading(`Refund ${money(refund.amount, refund.currency)}`),
    definitionList([
      ["ID", code(refund.id), "id"],
      ["Status", statusBadge(refund.status), "status"],
      ["Amount", money(refund.amount, refund.currency), "amount"],
      ["Payment", linkTo("payments", refund.payment_id), "payment"],
      ["Reason", refund.reason, "reason"],
      ["Error", refund.error_code ? `${refund.error_code}: ${refund.error_description || ""}` : null, "error"],
      ["Created", when(refund.created_at), "created"],
      ["Processed", when(refund.processed_at), "processed"],
    ], "refund-fields"),
    el("h2", {}, "Timeline"), timeline);
}

// ---------------------------------------------------------------------------------------------
// Orders

async function renderOrders({ params }) {
  const offset = Number(params.offset) || 0;
  const result = await api("GET", `/api/v1/orders${query({
    status: params.status, receipt: params.receipt, ...dateParams(params), limit: PAGE_SIZE, offset,
  })}`);
  const filters = filterForm("/orders", params, [
    ["status", "Status", select("status", [["", "Any"], ["created", "Created"], ["attempted", "Attempted"],
      ["paid", "Paid"]], params.status, "orders-filter-status")],
    ["receipt", "Receipt", el("input", { name: "receipt", value: params.receipt || "", ...tid("orders-filter-receipt") })],
  ], "orders-filter");
  const columns = ["Order", "Amount", "Status", "Receipt", "Capture", "Created"];
  const rows = result.data.map((o) => row(columns, [
    linkTo("orders", o.id), money(o.amount, o.currency), statusBadge(o.status), o.receipt || "—", o.capture_method,
    when(o.created_at),
  ], { "data-id": o.id, ...tid("order-row") }));
  return el("section", tid("orders"), heading("Orders"), filters,
    result.data.length ? tableWrap("Orders", table(columns, rows, "orders-table"), "orders-table-wrap")
      : el("p", { class: "empty", ...tid("orders-empty") }, "No orders match."),
    pager("/orders", params, result, "orders"));
}

async function renderOrder({ id }) {
  const [order, payments] = await Promise.all([
    api("GET", `/api/v1/orders/${encodeURIComponent(id)}`),
    api("GET", `/api/v1/orders/${encodeURIComponent(id)}/payments`),
  ]);
  const notes = Object.entries(order.notes || {});
  const columns = ["Payment", "Amount", "Status", "Method", "Created"];
  const list = payments.data || [];
  return el("section", tid("order-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/orders" }, "Orders"), " / ", order.id),
    heading(`Order ${money(order.amount, order.currency)}`),
    definitionList([
      ["ID", code(order.id), "id"],
      ["Status", statusBadge(order.status), "status"],
      ["Amount", money(order.amount, order.currency), "amount"],
      ["Receipt", order.receipt, "receipt"],
      ["Capture", order.capture_method, "capture-method"],
      ["Notes", notes.length ? el("ul", { class: "notes" }, notes.map(([k, v]) => el("li", {}, code(k), ": ", String(v)))) : null, "notes"],
      ["Created", when(order.created_at), "created"],
    ], "order-fields"),
    el("h2", {}, "Payments"),
    list.length ? tableWrap("Payments of this order", table(columns, list.map((p) => row(columns, [
      linkTo("payments", p.id), money(p.amount, p.currency), paymentStatus(p), methodText(p), when(p.created_at),
    ], { "data-id": p.id, ...tid("order-payment-row") })), "order-payments"), "order-payments-wrap")
      : el("p", { class: "empty", ...tid("order-payments-empty") }, "No payments yet."));
}

// ---------------------------------------------------------------------------------------------
// Webhooks

async function renderWebhooks({ params, generation }) {
  const merchant = await api("GET", "/api/v1/merchant");
  const section = el("section", tid("webhooks"), heading("Webhooks"),
    endpointPanel(merchant), secretPanel(merchant));
  const log = el("div", tid("delivery-log"));
  const offset = Number(params.offset) || 0;
  const load = async () => {
    const result = await api("GET", `/api/v1/webhooks${query({
      status: params.status, event: params.event, limit: PAGE_SIZE, offset,
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

function deliveryTable(result) {
  if (!result.data.length) return el("p", { class: "empty", tabindex: "-1", ...tid("deliveries-empty") }, "No deliveries yet.");
  const columns = ["Delivery", "Event", "Status", "Attempts", "Next retry", "Last code", "Created"];
  const rows = result.data.map((d) => row(columns, [
    linkTo("webhooks", d.id), code(d.event, "delivery-event"), statusBadge(d.status),
    el("span", tid("delivery-attempts"), String(d.attempts)),
    d.next_retry_at && d.status === "pending" ? when(d.next_retry_at) : "—",
    el("span", tid("delivery-code"), d.response_code === null ? "—" : String(d.response_code)), when(d.created_at),
  ], { "data-id": d.id, "data-event": d.event, "data-status": d.status, ...tid("delivery-row") }));
  return tableWrap("Webhook deliveries", table(columns, rows, "deliveries-table"), "deliveries-table-wrap");
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

/**
 * An inline "are you sure?" with Confirm/Cancel: confirmBox(...).open() shows it. cancelLabel names the way out
 * where "Cancel" would be ambiguous (cancelling a payment).
 */
function confirmBox(text, confirmLabel, confirmId, cancelId, action, box, opener, cancelLabel = "Cancel") {
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

function secretWithCopy(value, testId) {
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

async function renderDelivery({ id, generation }) {
  const delivery = await api("GET", `/api/v1/webhooks/${encodeURIComponent(id)}`);
  const attempts = delivery.attempt_history || [];
  const columns = ["#", "Trigger", "Code", "Response body", "Error", "Duration", "At"];
  const rows = attempts.map((a) => row(columns, [
    String(a.number), a.trigger, el("span", tid("attempt-code"), a.status_code === null ? "—" : String(a.status_code)),
    el("span", { class: "excerpt", ...tid("attempt-body") }, excerpt(a.response_body)), a.error || "—",
    `${a.duration_ms} ms`, when(a.created_at),
  ], { "data-number": a.number, ...tid("attempt-row") }));
  const box = messageBox("delivery-message");
  const retry = button("Retry now", "delivery-retry-button", null);
  retry.addEventListener("click", async () => {
    retry.disabled = true;
    showMessage(box, "");
    try {
      await api("POST", `/api/v1/webhooks/${encodeURIComponent(delivery.id)}/retry`, undefined, { idempotencyKey: newKey() });
      flash("Retry sent.");
      await route();
      // The worker sends it in a moment: follow until the attempt shows up.
      const before = delivery.attempts;
      const started = Date.now();
      const generationNow = state.generation;
      every(1000, generationNow, async () => {
        if (Date.now() - started > 30000) {
          stopTimers();
          return;
        }
        const fresh = await api("GET", `/api/v1/webhooks/${encodeURIComponent(delivery.id)}`).catch(() => null);
        if (fresh && fresh.attempts > before) route();
      });
    } catch (err) {
      if (!(err instanceof SessionEnded)) showMessage(box, describe(err));
      retry.disabled = false;
    }
  });
  if (delivery.status === "pending" && !attempts.length) every(2000, generation, () => refreshIfIdle());
  return el("section", tid("delivery-detail"),
    el("p", { class: "crumbs" }, el("a", { href: "#/webhooks" }, "Webhooks"), " / ", delivery.id),
    heading(`Delivery of ${delivery.event}`),
    definitionList([
      ["ID", code(delivery.id), "id"],
      ["Event", code(delivery.event), "event"],
      ["Status", statusBadge(delivery.status), "status"],
      ["Attempts", el("span", tid("delivery-detail-attempts"), String(delivery.attempts)), "attempts"],
      ["Next retry", delivery.status === "pending" ? when(delivery.next_retry_at) : "—", "next-retry"],
      ["Last code", delivery.response_code === null ? "—" : String(delivery.response_code), "last-code"],
      ["Endpoint", delivery.url, "url"],
      ["Created", when(delivery.created_at), "created"],
    ], "delivery-fields"),
    box,
    el("div", { class: "actions" }, retry, button("Refresh", "delivery-refresh", () => route(), "button secondary")),
    el("h2", {}, "Attempts"),
    attempts.length ? tableWrap("Attempts", table(columns, rows, "attempts-table"), "attempts-table-wrap")
      : el("p", { class: "empty", ...tid("attempts-empty") }, "Not attempted yet."),
    el("h2", {}, "Payload"),
    el("pre", { class: "code", tabindex: "0", ...tid("delivery-payload") }, JSON.stringify(delivery.payload, null, 2)));
}

function excerpt(text) {
  if (text === null || text === undefined || text === "") return "—";
  const flat = String(text).replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}

// ---------------------------------------------------------------------------------------------
// API keys

async function renderKeys() {
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

// ---------------------------------------------------------------------------------------------
// Docs

let openapiCache = null;

async function renderDocs({ id }) {
  if (!openapiCache) openapiCache = await api("GET", "/api/v1/openapi.json");
  const doc = openapiCache;
  const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      if (!["get", "post", "put", "patch", "delete"].includes(method)) continue;
      const tag = (op.tags && op.tags[0]) || "Other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, op, shared: item.parameters || [] });
    }
  }
  const toc = el("nav", { class: "toc", "aria-label": "API sections", ...tid("docs-toc") },
    el("ul", {}, [...byTag.keys()].map((tag) => el("li", {}, el("a", { href: `#/docs/${encodeURIComponent(tag)}` }, tag)))));
  // The description's Markdown table of test cards is drawn as a real table from its data, x-test-instruments.
  const info = doc.info || {};
  const instruments = Array.isArray(info["x-test-instruments"]) ? info["x-test-instruments"] : [];
  const cardColumns = ["Method", "Card number or UPI id", "Outcome", "Error code"];
  const testCards = tableWrap("Test cards and UPI ids", table(cardColumns, instruments.map((t) => row(cardColumns,
    [t.method === "upi" ? "UPI" : "Card", code(t.value), t.outcome, t.error_code ? code(t.error_code) : "—"],
    { ...tid("docs-test-card"), "data-value": t.value })), "docs-test-cards"), null);
  const description = String(info.description || "").split("\n\n").filter(Boolean).map((block, i) =>
    (block.startsWith("|") && instruments.length ? testCards : prose(block, "p", i ? {} : { class: "lead" })));
  const section = el("section", tid("docs"), heading(doc.info ? `${doc.info.title} ${doc.info.version || ""}`.trim() : "API docs"),
    description,
    el("p", { class: "muted" }, "Examples use your API key; put your secret in the ", code("PAYGATE_API_SECRET"),
      " environment variable first (", code("read -rs PAYGATE_API_SECRET && export PAYGATE_API_SECRET"),
      "). Every write accepts an Idempotency-Key."),
    toc);
  for (const [tag, ops] of byTag) {
    if (!ops.length) continue;
    const tagInfo = (doc.tags || []).find((t) => t.name === tag) || {};
    section.append(el("section", { class: "doc-tag", id: `tag-${tag}`, ...tid("docs-tag"), "data-tag": tag },
      el("h2", {}, tag), tagInfo.description ? prose(tagInfo.description) : "",
      ops.map((o) => operationDoc(doc, o))));
  }
  if (id) {
    requestAnimationFrame(() => document.getElementById(`tag-${id}`)?.scrollIntoView());
  }
  return section;
}

function resolve(doc, node) {
  let current = node;
  for (let hops = 0; current && current.$ref && hops < 10; hops += 1) {
    current = current.$ref.replace(/^#\//, "").split("/").reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return current || {};
}

function operationDoc(doc, { path, method, op, shared }) {
  const params = [...shared, ...(op.parameters || [])].map((p) => resolve(doc, p));
  const body = op.requestBody ? resolve(doc, op.requestBody) : null;
  const media = body && body.content ? body.content["application/json"] : null;
  const example = media ? (media.example !== undefined ? media.example : exampleFrom(doc, media.schema)) : undefined;
  const article = el("article", { class: "operation panel", ...tid("docs-operation"), "data-method": method.toUpperCase(), "data-path": path },
    el("h3", {}, el("span", { class: `method method-${method}` }, method.toUpperCase()), " ", code(path)),
    op.summary ? el("p", { class: "summary" }, op.summary) : "",
    op.description ? prose(op.description) : "");
  if (params.length) {
    const columns = ["Name", "In", "Required", "Type", "Description"];
    article.append(el("h4", {}, "Parameters"), tableWrap(`Parameters of ${method.toUpperCase()} ${path}`,
      table(columns, params.map((p) => row(columns, [code(p.name), p.in, p.required ? "yes" : "no",
        schemaType(doc, p.schema), prose(p.description, "span")]))), null));
  }
  if (media) {
    article.append(el("h4", {}, "Request body"),
      el("pre", { class: "code", tabindex: "0" }, example === undefined ? "{}" : JSON.stringify(example, null, 2)));
  }
  const responses = Object.entries(op.responses || {});
  if (responses.length) {
    article.append(el("h4", {}, "Responses"), el("ul", { class: "responses" }, responses.map(([status, r]) => {
      const resolved = resolve(doc, r);
      return el("li", {}, el("strong", {}, status), " ", prose(resolved.description, "span"));
    })));
  }
  article.append(el("h4", {}, "Example"),
    el("pre", { class: "code curl", tabindex: "0", ...tid("docs-curl") }, curlFor(doc, path, method, op, params, media ? example : undefined)));
  return article;
}

/** The document's prose with its `code spans` as <code>: split on backticks, never parsed as HTML. */
function prose(text, tag = "p", attrs = {}) {
  const node = el(tag, attrs);
  String(text || "").split("`").forEach((part, i) => {
    if (part) node.append(i % 2 ? el("code", {}, part) : document.createTextNode(part));
  });
  return node;
}

function schemaType(doc, schema) {
  const s = resolve(doc, schema || {});
  if (s.enum) return s.enum.join(" | ");
  if (s.anyOf) return s.anyOf.map((x) => schemaType(doc, x)).join(" | ");
  return s.type || "";
}

function exampleFrom(doc, schema) {
  const s = resolve(doc, schema || {});
  if (s.example !== undefined) return s.example;
  if (s.examples && s.examples.length) return s.examples[0];
  if (s.type === "object" && s.properties) {
    const out = {};
    for (const name of s.required || []) out[name] = exampleFrom(doc, s.properties[name]);
    return out;
  }
  return undefined;
}

function shellQuote(text) {
  return `'${String(text).replace(/'/g, "'\\''")}'`;
}

/** A curl command for this operation, with the signed-in merchant's key and this page's origin. */
function curlFor(doc, path, method, op, params, example) {
  const merchant = state.session ? state.session.merchant : {};
  const key = merchant.api_key || "key_…";
  const filled = path.replace(/\{([^}]+)\}/g, (_, name) => {
    const param = params.find((p) => p.in === "path" && p.name === name);
    if (param && param.example !== undefined) return encodeURIComponent(param.example);
    const collection = path.split("/").filter(Boolean).find((part, i, parts) => parts[i + 1] === `{${name}}`);
    return ID_EXAMPLES[collection] || name;
  });
  const queryParams = params.filter((p) => p.in === "query" && (p.required || p.name === "key"));
  const search = queryParams.map((p) => `${p.name}=${encodeURIComponent(p.name === "key" ? key : (p.example ?? ""))}`).join("&");
  const url = `${location.origin}${filled}${search ? `?${search}` : ""}`;
  const security = op.security !== undefined ? op.security : doc.security || [];
  const lines = [`curl -X ${method.toUpperCase()} ${shellQuote(url)}`];
  if (security.length) {
    lines.push(`  -H ${shellQuote(`X-Api-Key: ${key}`)}`);
    lines.push('  -H "X-Api-Secret: $PAYGATE_API_SECRET"');
  }
  if (params.some((p) => p.in === "header" && p.name === "Idempotency-Key")) {
    lines.push(`  -H ${shellQuote("Idempotency-Key: order-1001-attempt-1")}`);
  }
  if (example !== undefined) {
    lines.push(`  -H ${shellQuote("Content-Type: application/json")}`);
    lines.push(`  -d ${shellQuote(JSON.stringify(example))}`);
  }
  return lines.join(" \\\n");
}

// ---------------------------------------------------------------------------------------------
// Start

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
