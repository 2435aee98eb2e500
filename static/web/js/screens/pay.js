// Scan to pay: a merchant's QR holds .../api/v1/checkout/<token> (plain or inside an
// EMVCo payload). Preview it (merchant, amount, discounts), confirm with the PIN.
import { api, newKey } from "../api.js";
import { h, clear, money, parseMoney, showError, toast, pinInput, avatar } from "../dom.js";
import { scanner, routeForScan } from "./join.js";

export function checkoutTokenFrom(text) {
  const m = String(text).match(/\/(?:checkout|pay)\/([A-Za-z0-9_.~-]+)/);
  return m ? m[1] : null;
}

export async function render(view, [token]) {
  if (!token) return renderScan(view);
  const card = h("div", { class: "card checkout" }, h("p", { class: "muted" }, "Loading…"));
  view.append(card);
  let p;
  try {
    p = await api("GET", `/checkout/${encodeURIComponent(token)}`);
  } catch (e) {
    clear(card, h("p", {}, e.status === 404 ? "This payment code is not valid." : e.human));
    return;
  }
  const m = p.merchant || {};
  const done = p.status && p.status !== "pending" && p.status !== "open" && p.kind !== "till";
  const amountInput = p.kind === "till" ? h("input", { name: "amount", inputmode: "decimal", required: true, placeholder: "0.00", "aria-label": `Amount in ${p.currency}` }) : null;
  const pin = pinInput();
  pin.required = false;
  const err = h("p", { class: "error-text", role: "alert" });
  const payBtn = h("button", { type: "submit", class: "primary wide" }, p.kind === "till" ? "Pay" : `Pay ${money(p.pay_amount ?? p.amount, p.currency)}`);
  const form = h(
    "form",
    {},
    amountInput ? h("div", { class: "field" }, h("label", {}, `Amount (${p.currency})`), amountInput) : null,
    h("div", { class: "field" }, h("label", {}, "Payment PIN"), pin),
    err,
    payBtn,
  );
  clear(
    card,
    h("div", { class: "profile-head" }, avatar(m.name || "Shop", null, "big"), h("div", {}, h("strong", { class: "merchant-name" }, m.name), h("div", { class: "muted" }, [m.city, m.country].filter(Boolean).join(", ")))),
    p.description ? h("p", {}, p.description) : null,
    p.amount !== null && p.amount !== undefined ? h("p", { class: "amount-big", "aria-label": "Amount" }, money(p.amount, p.currency)) : null,
    ...(p.adjustments || []).map((a) => h("p", { class: "pill" }, `${a.label || a.description || "Discount"}: −${money(a.amount, p.currency)}`)),
    p.discount ? h("p", {}, `You pay ${money(p.pay_amount, p.currency)} after ${money(p.discount, p.currency)} off`) : null,
    done ? h("p", { class: "pill" }, p.paid_by_me ? "Paid" : p.status) : form,
  );
  // One Idempotency-Key per checkout visit: a retried tap cannot pay twice.
  const key = newKey();
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const body = {};
    if (pin.value) body.pin = pin.value;
    if (amountInput) {
      const minor = parseMoney(amountInput.value, p.currency);
      if (!minor) return (err.textContent = "Type the amount to pay.");
      body.amount = minor;
    }
    payBtn.disabled = true;
    try {
      const r = await api("POST", `/checkout/${encodeURIComponent(token)}/pay`, { body, idem: key });
      clear(
        card,
        h("div", { class: "paid", role: "status" }, h("p", { class: "amount-big" }, "✓ " + money(r.paid_amount ?? r.amount, r.currency)), h("p", {}, `Paid to ${r.merchant?.name || m.name}`), r.discount ? h("p", { class: "muted" }, `Saved ${money(r.discount, r.currency)}`) : null),
        h("a", { href: "#/wallet" }, "See your wallet"),
      );
      toast("Paid");
    } catch (ex) {
      err.textContent = ex.human || ex.message;
      payBtn.disabled = false;
    }
  });
}

async function renderScan(view) {
  const input = h("input", { name: "code", placeholder: "Paste the payment link or code", "aria-label": "Payment link" });
  const form = h("form", { class: "card" }, h("h3", {}, "Pay a merchant"), h("div", { class: "row" }, h("div", { class: "grow" }, input), h("button", { type: "submit", class: "primary" }, "Open")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = checkoutTokenFrom(input.value);
    if (!t) return toast("That is not a Plaza payment code.");
    location.hash = `#/pay/${t}`;
  });
  view.append(form);
  const scan = await scanner((text) => {
    const t = checkoutTokenFrom(text);
    if (t) location.hash = `#/pay/${t}`;
    else if (routeForScan(text)) location.hash = routeForScan(text);
    else toast("That QR code is not a Plaza code.");
  });
  if (scan) {
    const btn = h("button", { type: "button", class: "wide" }, "Scan with the camera");
    btn.addEventListener("click", async () => {
      btn.replaceWith(scan.video);
      try {
        await scan.start();
      } catch (e) {
        showError(e);
      }
    });
    view.append(h("div", { class: "card" }, btn));
    return () => scan.stop();
  }
  view.append(h("p", { class: "hint card" }, "This browser cannot scan QR codes; paste the link instead."));
}
