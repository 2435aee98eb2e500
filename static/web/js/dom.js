// Tiny DOM helpers. Text always goes in as text nodes, never as HTML, so whatever a
// person types (or a server sends) cannot run as script.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// A monochrome icon drawn with a CSS mask (it takes the text colour); decorative only,
// so the control around it carries the accessible name.
export function icon(name) {
  return h("span", { class: `ic ic-${name}`, "aria-hidden": "true" });
}

let toastTimer;
export function toast(text, kind = "info") {
  const el = document.getElementById("toast");
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (el.hidden = true), kind === "error" ? 6000 : 3000);
}

export function showError(e) {
  toast(e && e.human ? e.human : String(e && e.message ? e.message : e), "error");
}

// Money: integer minor units + ISO currency, formatted by the browser.
const DIGITS = { JPY: 0, KRW: 0, VND: 0, CLP: 0, ISK: 0, HUF: 2 };
export function minorDigits(currency) {
  return DIGITS[currency] ?? 2;
}
export function money(amount, currency) {
  const d = minorDigits(currency);
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency, minimumFractionDigits: d }).format(
      Number(amount) / 10 ** d,
    );
  } catch {
    return `${(Number(amount) / 10 ** d).toFixed(d)} ${currency}`;
  }
}
// "12.34" -> 1234 minor units, exactly (no float arithmetic on money).
export function parseMoney(text, currency) {
  const d = minorDigits(currency);
  const m = String(text).trim().match(/^(\d{1,12})(?:[.,](\d*))?$/);
  if (!m) return null;
  const frac = (m[2] || "").slice(0, d + 1);
  if (frac.length > d) return null;
  return Number(m[1]) * 10 ** d + Number((frac + "0".repeat(d)).slice(0, d) || 0);
}

export function timeShort(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const now = new Date();
  if (d.toDateString() === now.toDateString()) return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return d.toLocaleDateString([], { month: "short", day: "numeric" });
}

export function initials(name) {
  const parts = String(name || "?").trim().split(/\s+/);
  return (parts[0][0] + (parts[1] ? parts[1][0] : "")).toUpperCase();
}

export function avatar(name, url, size = "") {
  if (url) return h("img", { class: `avatar ${size}`, src: url, alt: "" });
  let hash = 0;
  for (const ch of String(name)) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return h("span", { class: `avatar ${size} hue-${Math.abs(hash) % 8}`, "aria-hidden": "true" }, initials(name));
}

// A modal dialog built on <dialog>, so focus and Escape work as the platform does.
export function dialog(title, body, actions = []) {
  const dlg = h(
    "dialog",
    { class: "sheet", "aria-label": title },
    h("h2", {}, title),
    body,
    actions.length ? h("div", { class: "actions" }, actions) : null,
  );
  dlg.addEventListener("close", () => dlg.remove());
  document.body.append(dlg);
  dlg.showModal();
  return dlg;
}

export function pinInput(label = "Payment PIN") {
  return h("input", {
    type: "password",
    inputmode: "numeric",
    pattern: "\\d{6}",
    maxlength: "6",
    autocomplete: "off",
    required: true,
    name: "pin",
    "aria-label": label,
    placeholder: "6-digit PIN",
  });
}
