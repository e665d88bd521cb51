// The API client: fetch() for paygate's JSON, the errors it throws, and query strings.

import { state } from "./state.js";

// What an answer means for the session: a 401 ends it, any other success counts as activity. session.js does
// both, and app.js hands them over through onSession: session.js imports api(), so this module cannot import it.
const sessionHooks = { ended: () => {}, answered: () => {} };

export function onSession({ ended, answered }) {
  sessionHooks.ended = ended;
  sessionHooks.answered = answered;
}

export class ApiError extends Error {
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

export class SessionEnded extends Error {}

/**
 * fetch() for paygate's JSON: the session cookie goes along (same origin), every write carries the
 * CSRF token, and POSTs an Idempotency-Key (one per user action: pass the action's key).
 * A 401 anywhere but at sign-in ends the session in the UI.
 */
export async function api(method, path, body, { idempotencyKey, signIn = false } = {}) {
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
    sessionHooks.ended();
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
  sessionHooks.answered();
  return data;
}

export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function query(params) {
  const parts = [];
  for (const [name, value] of Object.entries(params)) {
    if (value === "" || value === null || value === undefined) continue;
    parts.push(`${encodeURIComponent(name)}=${encodeURIComponent(value)}`);
  }
  return parts.length ? `?${parts.join("&")}` : "";
}

/** An error as the page shows it: the API's description, and its request id to quote. */
export function describe(err) {
  if (err instanceof ApiError) {
    const suffix = err.requestId ? ` (request ${err.requestId})` : "";
    return `${err.description}${suffix}`;
  }
  return String(err && err.message ? err.message : err);
}
