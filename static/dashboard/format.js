// Formatting: amounts in minor units as the merchant reads them (with each currency's exponent), and dates.

import { el } from "./dom.js";

// Minor-unit exponents that are not 2, as paygate/currencies.py has them (the server's table wins
// over Intl's, which differs for a few codes).
const EXPONENTS = {
  BHD: 3, BIF: 0, CLF: 4, CLP: 0, DJF: 0, GNF: 0, IQD: 3, ISK: 0, JOD: 3, JPY: 0, KMF: 0, KRW: 0,
  KWD: 3, LYD: 3, OMR: 3, PYG: 0, RWF: 0, TND: 3, UGX: 0, UYI: 0, UYW: 4, VND: 0, VUV: 0, XAF: 0,
  XOF: 0, XPF: 0,
};

function exponent(currency) {
  return Object.prototype.hasOwnProperty.call(EXPONENTS, currency) ? EXPONENTS[currency] : 2;
}

/** Integer minor units → "INR 1,234.50". */
export function money(amount, currency) {
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
export function parseMajor(text, currency) {
  const places = exponent(currency);
  const cleaned = String(text).trim().replace(/,/g, "");
  const pattern = places ? new RegExp(`^(\\d+)(?:\\.(\\d{0,${places}}))?$`) : /^(\d+)$/;
  const match = pattern.exec(cleaned);
  if (!match) return null;
  const minor = (match[2] || "").padEnd(places, "0");
  const value = Number(match[1]) * 10 ** places + Number(minor || 0);
  return Number.isSafeInteger(value) ? value : null;
}

export function majorString(amount, currency) {
  return money(amount, currency).replace(/^[A-Z]{3} /, "").replace(/,/g, "");
}

export function when(iso) {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso);
  const shown = date.toLocaleString("en-GB", {
    year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  return el("time", { datetime: iso, title: iso }, shown);
}

export function percent(rate) {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}
