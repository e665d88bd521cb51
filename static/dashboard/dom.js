// DOM helpers and the small widgets built from them. Nodes are made with createElement and text nodes only
// (setAttrs sets attributes and properties, never markup), so server-provided text can never become HTML.

const SVG_NS = "http://www.w3.org/2000/svg";
// Where every page is drawn.
export const view = () => document.getElementById("view");

/** el("a", {href: "#/x", "data-test-id": "y"}, "text", child…): attributes as attributes, children as text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  append(node, children);
  return node;
}

export function svg(tag, attrs = {}, ...children) {
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

export function tid(name) {
  return { "data-test-id": name };
}

let uniqueCounter = 0;
export function uid(prefix) {
  uniqueCounter += 1;
  return `${prefix}-${uniqueCounter}`;
}

/** A labelled form control: returns [wrapper, control]. */
export function field(label, control, hint) {
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

export function select(name, options, current, testId) {
  const control = el("select", { name, ...tid(testId) });
  for (const [value, label] of options) {
    control.append(el("option", { value }, label));
  }
  control.value = current || "";
  return control;
}

export function button(label, testId, onclick, cls = "button") {
  return el("button", { type: "button", class: cls, ...tid(testId), onclick }, label);
}

/** A message box under a form: role=alert for errors, status otherwise. */
export function messageBox(testId) {
  const box = el("div", { class: "message", role: "alert", ...tid(testId) });
  box.hidden = true;
  return box;
}

export function showMessage(box, text, kind = "error") {
  box.replaceChildren(text);
  box.className = `message ${kind}`;
  box.hidden = !text;
}

export function flash(text) {
  const region = document.querySelector("[data-test-id=flash]");
  region.replaceChildren(text ? el("p", {}, text) : "");
}

export function tableWrap(label, table, testId) {
  return el("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0", ...tid(testId) }, table);
}

export function table(columns, rows, testId) {
  const head = el("thead", {}, el("tr", {}, columns.map((c) => el("th", { scope: "col" }, c))));
  const body = el("tbody", {}, rows);
  return el("table", { class: "data", ...tid(testId) }, head, body);
}

/** A <tr> whose cells carry data-label, so the stacked phone layout can name them. */
export function row(columns, cells, attrs = {}) {
  return el("tr", attrs, cells.map((cell, i) => el("td", { "data-label": columns[i] }, cell)));
}

export function definitionList(pairs, testId) {
  const list = el("dl", { class: "fields", ...tid(testId) });
  for (const [term, value, key] of pairs) {
    list.append(el("div", { class: "pair" }, el("dt", {}, term),
      el("dd", key ? tid(`field-${key}`) : {}, value === null || value === undefined || value === "" ? "—" : value)));
  }
  return list;
}

// Every status a payment or refund can have (paygate/states.py), in the order they happen: the list filters
// offer each one, so a payment in any state can be found.
export const PAYMENT_STATUSES = [["pending", "Pending"], ["processing", "Processing"], ["success", "Success"],
  ["capture_pending", "Capture pending"], ["void_pending", "Cancellation pending"], ["failed", "Failed"],
  ["voided", "Voided"]];
export const REFUND_STATUSES = [["pending", "Pending"], ["processing", "Processing"], ["processed", "Processed"],
  ["failed", "Failed"]];
// Not final yet: a page showing one of these looks again until the worker settles it.
export const UNSETTLED = new Set(["pending", "processing", "capture_pending", "void_pending"]);

export function statusBadge(status) {
  return el("span", { class: `badge status-${String(status).replace(/[^a-z_]/g, "")}`, ...tid("status") }, status);
}

export function code(text, testId) {
  return el("code", testId ? tid(testId) : {}, text);
}

export function heading(text) {
  return el("h1", { tabindex: "-1", ...tid("page-title") }, text);
}
