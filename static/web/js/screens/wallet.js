// Wallet: balances, statement, sandbox top-up, payment PIN, pay code.
import { api, newKey } from "../api.js";
import { realtime } from "../realtime.js";
import { h, clear, money, parseMoney, showError, toast, dialog, timeShort, pinInput } from "../dom.js";

export async function render(view, _p, shell) {
  let pinSet = false;
  let pinBtn;
  shell.setActions(h("a", { href: "#/pay", title: "Scan to pay" }, "Pay"));
  const balanceCard = h("div", { class: "card balance", "aria-live": "polite" }, h("h3", {}, "Balance"), h("div", { class: "amount" }, "…"));
  const buttons = h(
    "div",
    { class: "card row wallet-actions" },
    h("button", { type: "button", class: "primary grow", onclick: () => topUp(load) }, "Top up"),
    (pinBtn = h("button", { type: "button", class: "grow", onclick: () => setPin(pinSet, load) }, "Payment PIN")),
    h("button", { type: "button", class: "grow", onclick: () => payCode() }, "Pay code"),
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
    pinSet = !!w.pin_set;
    pinBtn.textContent = pinSet ? "Change PIN" : "Set payment PIN";
    clear(
      balanceCard,
      h("h3", {}, "Balance"),
      balances.length
        ? balances.map((b) =>
            h(
              "div",
              { class: "balance-row", dataset: { currency: b.currency } },
              h("div", { class: "amount" }, money(b.balance, b.currency)),
              b.pending ? h("div", { class: "muted-light" }, `${money(b.available, b.currency)} available · ${money(b.pending, b.currency)} waiting for transfers to be accepted`) : null,
            ),
          )
        : h("div", { class: "amount" }, money(0, "USD")),
      pinSet ? null : h("p", { class: "muted-light" }, "Set a payment PIN before paying or sending money."),
    );
    const rows = st.results || [];
    clear(
      entries,
      rows.length
        ? rows.map((e) => {
            const amt = Number(e.amount);
            return h(
              "li",
              { class: "item entry" },
              h("span", { class: "body" }, h("span", { class: "name" }, label(e.kind)), h("span", { class: "preview" }, `${timeShort(e.created_at)}${e.balance_after !== undefined ? ` · balance ${money(e.balance_after, e.currency)}` : ""}`)),
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

// Ledger entry kinds ("topup.succeeded", "store.purchase", …) as a person reads them.
function label(kind) {
  const k = String(kind || "");
  const known = [
    [/^topup/, "Top-up"], [/^operator/, "Credit from Plaza"], [/^transfer.*(return|expire)/, "Transfer returned"],
    [/^transfer/, "Transfer"], [/^red_?packet.*refund/, "Red packet returned"], [/^red_?packet/, "Red packet"],
    [/^store/, "Sticker pack"], [/^(checkout|merchant|order)/, "Payment to a merchant"], [/refund/, "Refund"],
  ];
  for (const [re, text] of known) if (re.test(k)) return text;
  return k ? k.replace(/[._]/g, " ") : "Movement";
}

async function topUp(reload) {
  const currencies = ["USD", "EUR", "GBP", "CNY"];
  try {
    for (const b of (await api("GET", "/wallet")).balances || []) if (!currencies.includes(b.currency)) currencies.unshift(b.currency);
  } catch {
    /* defaults */
  }
  const cur = h("select", { name: "currency", "aria-label": "Currency" }, currencies.map((c) => h("option", { value: c }, c)));
  const amount = h("input", { name: "amount", inputmode: "decimal", placeholder: "50.00", required: true, "aria-label": "Top-up amount" });
  const err = h("p", { class: "error-text", role: "alert" });
  const go = h("button", { type: "submit", class: "primary" }, "Top up");
  const form = h("form", {}, h("p", { class: "hint" }, `Sandbox gateway: no real card is charged on this server.`), h("div", { class: "row" }, h("div", { class: "grow" }, amount), cur), err, h("div", { class: "actions" }, go));
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const currency = cur.value;
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
      toast(t.status === "succeeded" ? `Topped up ${money(minor, currency)}` : t.status === "failed" ? "The top-up failed." : "Top-up is processing…");
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

function setPin(pinSet, reload) {
  const old = pinInput("Current PIN");
  old.required = pinSet;
  const pin = pinInput("New PIN");
  const again = pinInput("Repeat the new PIN");
  const err = h("p", { class: "error-text", role: "alert" });
  const form = h(
    "form",
    {},
    pinSet ? h("div", { class: "field" }, h("label", {}, "Current PIN"), old) : null,
    h("div", { class: "field" }, pin),
    h("div", { class: "field" }, again),
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
      reload();
    } catch (ex) {
      err.textContent = ex.human || ex.message;
    }
  });
  const dlg = dialog("Payment PIN", form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
}

// A customer-presented code (POST /wallet/pay-code): the cashier's scanner or keypad
// charges it within its short life. Shown large, with a countdown, and renewable.
async function payCode() {
  const digits = h("p", { class: "paycode", "aria-label": "Your pay code" }, "…");
  const left = h("p", { class: "muted", role: "timer" });
  const again = h("button", { type: "button" }, "New code");
  const dlg = dialog("Pay code", h("div", { class: "center-text" }, h("p", { class: "hint" }, "Show this to the cashier. Never share it otherwise."), digits, left), [again, h("button", { type: "button", onclick: () => dlg.close() }, "Close")]);
  let timer;
  async function issue() {
    clearInterval(timer);
    try {
      const c = await api("POST", "/wallet/pay-code");
      digits.textContent = c.code.replace(/(\d{4})(?=\d)/g, "$1 ");
      const until = Date.now() + c.expires_in * 1000;
      const tick = () => {
        const s = Math.max(0, Math.round((until - Date.now()) / 1000));
        left.textContent = s ? `Valid for ${s} s` : "Expired — get a new code";
        if (!s) clearInterval(timer);
      };
      tick();
      timer = setInterval(tick, 1000);
    } catch (e) {
      digits.textContent = "";
      left.textContent = e.human || e.message;
    }
  }
  again.addEventListener("click", issue);
  dlg.addEventListener("close", () => clearInterval(timer));
  issue();
}
