// An order's, payment's or refund's metadata as its page shows it: the merchant's own keys and values, read-only,
// as text (never markup), sorted by key.

import { el, tid } from "./dom.js";

/** [heading, list] of the pairs, or a line saying there are none. */
export function metadataSection(metadata, title = "Metadata") {
  const pairs = Object.entries(metadata || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return [
    el("h2", {}, title),
    pairs.length
      ? el("dl", { class: "fields metadata", ...tid("metadata") }, pairs.map(([key, value]) =>
        el("div", { class: "pair", "data-key": key, ...tid("metadata-pair") },
          el("dt", tid("metadata-key"), key), el("dd", tid("metadata-value"), String(value)))))
      : el("p", { class: "empty", ...tid("metadata-empty") }, "No metadata."),
  ];
}
