// Wallet: balances, statement, sandbox top-up, payment PIN, pay code.
import { api, newKey } from "../api.js";
import { realtime } from "../realtime.js";
import { h, clear, money, parseMoney, showError, toast, dialog, timeShort, pinInput } from "../dom.js";

export async function render(view, _p, shell) {
  shell.setActions(h("a", { href: "#/pay", title: "Scan to pay" }, "Pay"));
  const balanceCard = h("div", { class: "card balance", "aria-live": "polite" }, h("h3", {}, "Balance"), h("div", { class: "amount" }, "…"));
  const buttons = h(
    "div",
    { class: "card row wallet-actions" },
    h("button", { type: "button", class: "primary grow", onclick: () => topUp(load) }, "Top up"),
    h("button", { type: "button", class: "grow", onclick: () => setPin() }, "Payment PIN"),
  );
  const entries = h("ul", { class: "list entries", "aria-label": "Statement" });
  view.append(balanceCard, buttons, h("div", { class: "section-title" }, "Statement"), entries);

  async function load() {
    let w, st;
    try {
      [w, st] = await Promise.all([api("GET", "/wallet"), api("GET", "/wallet/entries", { query: { limit: 50 } })]);
    } catch (e) {
      if (e.code === "endpoint_not_found") {
        clear(view, h("p", { class: "empty" }, "The wallet is not available on this server yet."));
        return;
      }
      return showError(e);
    }
    const balances = w.balances || [];
    clear(
      balanceCard,
      h("h3", {}, "Balance"),
      balances.length
        ? balances.map((b) => h("div", { class: "amount", dataset: { currency: b.currency } }, money(b.balance, b.currency)))
        : h("div", { class: "amount" }, money(0, w.default_currency || "USD")),
    );
    const rows = st.results || [];
    clear(
      entries,
      rows.length
        ? rows.map((e) => {
            const amt = Number(e.amount);
            return h(
              "li",
              { class: "item" },
              h("span", { class: "body" }, h("span", { class: "name" }, e.description || e.memo || label(e.kind || e.type)), h("span", { class: "preview" }, timeShort(e.created_at))),
              h("span", { class: `amount ${amt >= 0 ? "plus" : "minus"}` }, (amt > 0 ? "+" : "") + money(amt, e.currency)),
            );
          })
        : h("li", { class: "empty" }, "No movements yet. Top up to start."),
    );
  }
  const off = realtime.on("wallet.updated", () => load());
  await load();
  return off;
}

function label(kind) {
  return (
    {
      topup: "Top-up", transfer_in: "Transfer received", transfer_out: "Transfer sent", red_packet_sent: "Red packet sent",
      red_packet_claimed: "Red packet", red_packet_refund: "Red packet returned", purchase: "Purchase", sticker_purchase: "Sticker pack",
      merchant_payment: "Payment", refund: "Refund",
    }[kind] || (kind ? kind.replace(/_/g, " ") : "Movement")
  );
}

async function topUp(reload) {
  let currency = "USD";
  try {
    const w = await api("GET", "/wallet");
    currency = w.default_currency || w.balances?.[0]?.currency || "USD";
  } catch {
    /* default */
  }
  const amount = h("input", { name: "amount", inputmode: "decimal", placeholder: "50.00", required: true, "aria-label": `Amount in ${currency}` });
  const err = h("p", { class: "error-text", role: "alert" });
  const go = h("button", { type: "submit", class: "primary" }, "Top up");
  const form = h("form", {}, h("p", { class: "hint" }, `Sandbox gateway: no real card is charged on this server.`), h("div", { class: "row" }, h("div", { class: "grow" }, amount), h("span", {}, currency)), err, h("div", { class: "actions" }, go));
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const minor = parseMoney(amount.value, currency);
    if (!minor) return (err.textContent = "Enter an amount, like 50.00.");
    go.disabled = true;
    try {
      let t = await api("POST", "/wallet/topups", { body: { amount: minor, currency }, idem: key });
      // The sandbox gateway confirms the payment itself; the wallet is credited by the
      // gateway's webhook, so we wait for wallet.updated (or poll the top-up) briefly.
      for (let i = 0; i < 20 && t.status && !["succeeded", "failed", "canceled"].includes(t.status) && t.id; i++) {
        await new Promise((r) => setTimeout(r, 500));
        try {
          t = await api("GET", `/wallet/topups/${t.id}`);
        } catch {
          break;
        }
      }
      toast(t.status === "failed" ? "The top-up failed." : `Topped up ${money(minor, currency)}`);
      dlg.close();
      reload();
    } catch (ex) {
      err.textContent = ex.human || ex.message;
    } finally {
      go.disabled = false;
    }
  });
  const dlg = dialog("Top up", form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
  amount.focus();
}

function setPin() {
  const old = pinInput("Current PIN (if you have one)");
  old.required = false;
  const pin = pinInput("New PIN");
  const again = pinInput("New PIN again");
  const err = h("p", { class: "error-text", role: "alert" });
  const form = h(
    "form",
    {},
    h("div", { class: "field" }, h("label", {}, "Current PIN (leave empty the first time)"), old),
    h("div", { class: "field" }, h("label", {}, "New 6-digit PIN"), pin),
    h("div", { class: "field" }, h("label", {}, "Repeat it"), again),
    err,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "primary" }, "Save PIN")),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!/^\d{6}$/.test(pin.value)) return (err.textContent = "The PIN is 6 digits.");
    if (pin.value !== again.value) return (err.textContent = "The two PINs differ.");
    try {
      const body = { pin: pin.value };
      if (old.value) body.old_pin = old.value;
      await api("POST", "/wallet/pin", { body });
      toast("PIN saved");
      dlg.close();
    } catch (ex) {
      err.textContent = ex.human || ex.message;
    }
  });
  const dlg = dialog("Payment PIN", form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
}
