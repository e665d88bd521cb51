// Docs: the API reference drawn from paygate's OpenAPI document, with curl examples for this merchant.

import { state } from "./state.js";
import { code, el, heading, row, table, tableWrap, tid } from "./dom.js";
import { api } from "./api.js";

// Where an id in a path points, for the docs' curl examples.
const ID_EXAMPLES = {
  orders: "order_4fJ2kQ9xLmN7pR1s", payments: "pay_4fJ2kQ9xLmN7pR1s", refunds: "rfnd_4fJ2kQ9xLmN7pR1s",
  events: "evt_4fJ2kQ9xLmN7pR1s", webhooks: "whd_4fJ2kQ9xLmN7pR1s",
};

let openapiCache = null;

export async function renderDocs({ id }) {
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
