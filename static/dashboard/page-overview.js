// Overview: today's and the last 7 days' payments, and volume per day as a chart with its numbers as a table.

import { el, heading, row, statusBadge, svg, table, tableWrap, tid, uid } from "./dom.js";
import { money, percent } from "./format.js";
import { api } from "./api.js";

export async function renderOverview() {
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
