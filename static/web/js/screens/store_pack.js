// One sticker pack: its stickers, buy (from the wallet, with an Idempotency-Key), gift.
import { api, newKey } from "../api.js";
import { h, clear, toast, dialog, avatar, pinInput } from "../dom.js";
import { priceLabel, coverOf } from "./store.js";

export async function render(view, [id], shell) {
  let p;
  try {
    p = await api("GET", `/store/packs/${id}`);
  } catch (e) {
    view.append(h("p", { class: "empty" }, e.status === 404 ? "No such sticker pack." : e.human));
    return;
  }
  shell.setTitle(p.title || "Sticker pack", { back: true });
  const mine = await api("GET", "/me/sticker-packs").catch(() => ({ results: [] }));
  let owned = p.owned || (mine.results || mine || []).some((x) => String(x.pack_id ?? x.id) === String(id));
  const status = h("div", { class: "row" });
  const card = h(
    "div",
    { class: "card" },
    h("div", { class: "profile-head" }, h("img", { class: "avatar big", src: coverOf(p), alt: "" }), h("div", {}, h("strong", {}, p.title), h("div", { class: "muted" }, p.creator?.display_name || p.category || ""), h("div", { class: "price" }, priceLabel(p)))),
    p.description ? h("p", {}, p.description) : null,
    status,
  );
  const grid = h("div", { class: "card stickers-grid", "aria-label": "Stickers in this pack" }, (p.stickers || []).map((s) => h("img", { src: s.thumbnail_url || s.image_url, alt: s.emoji ? `Sticker ${s.emoji}` : "Sticker" })));
  view.append(card, grid);

  function drawStatus() {
    const buy = h("button", { type: "button", class: "primary grow", onclick: purchase }, p.price ? `Buy for ${priceLabel(p)}` : "Get it free");
    const gift = h("button", { type: "button", class: "grow", onclick: giftDialog }, "Gift to a friend");
    clear(status, owned ? h("span", { class: "pill owned" }, "In your collection — use it in any chat") : buy, p.price ? gift : null);
  }
  // Buying or gifting: confirm the price the page showed (the server answers 409
  // price_changed if it moved), the PIN unless under the password-free limit, and one
  // Idempotency-Key per confirmed intent so a retry cannot charge twice.
  function payDialog({ title, to }) {
    const pin = pinInput();
    pin.required = false;
    const err = h("p", { class: "error-text", role: "alert" });
    const ok = h("button", { type: "submit", class: "primary" }, p.price ? `Pay ${priceLabel(p)}` : "Get it");
    const form = h(
      "form",
      {},
      h("p", {}, to ? `${p.title} for ${to.display_name}` : p.title, " — ", h("strong", {}, priceLabel(p))),
      p.price ? h("div", { class: "field" }, h("label", {}, "Payment PIN"), pin) : null,
      err,
      h("div", { class: "actions" }, ok),
    );
    let key = newKey();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      ok.disabled = true;
      err.textContent = "";
      const body = { expected_price: p.price, expected_currency: p.currency };
      if (pin.value) body.pin = pin.value;
      if (to) body.to_user_id = to.id;
      try {
        await api("POST", `/store/packs/${id}/${to ? "gift" : "purchase"}`, { body, idem: key });
        dlg.close();
        if (to) toast(`Sent ${p.title} to ${to.display_name}`);
        else {
          owned = true;
          toast(`${p.title} is yours`);
          drawStatus();
        }
      } catch (ex) {
        ok.disabled = false;
        if (ex.code === "already_owned" && !to) {
          owned = true;
          dlg.close();
          drawStatus();
        } else if (ex.code === "price_changed") {
          const fresh = await api("GET", `/store/packs/${id}`);
          Object.assign(p, fresh);
          key = newKey(); // a new price is a new intent
          err.textContent = `The price is now ${priceLabel(p)}. Confirm again to pay it.`;
          ok.textContent = `Pay ${priceLabel(p)}`;
        } else if (ex.code === "pin_not_set") {
          err.append("Set a payment PIN in your ", h("a", { href: "#/wallet" }, "wallet"), " first.");
          err.prepend(ex.message + " ");
        } else err.textContent = ex.human || ex.message;
      }
    });
    const dlg = dialog(title, form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
    (p.price ? pin : ok).focus();
  }
  function purchase() {
    payDialog({ title: p.price ? "Buy sticker pack" : "Get free sticker pack" });
  }
  async function giftDialog() {
    const contacts = (await api("GET", "/contacts", { query: { limit: 500 } }).catch(() => ({ results: [] }))).results || [];
    const dlg = dialog(
      `Gift ${p.title || "this pack"}`,
      h(
        "ul",
        { class: "list" },
        contacts.length
          ? contacts.map(({ user }) =>
              h("li", {}, h("button", { type: "button", class: "item", onclick: () => (dlg.close(), payDialog({ title: "Gift sticker pack", to: user })) }, avatar(user.display_name, user.avatar_url, "small"), h("span", { class: "body name" }, user.display_name))),
            )
          : h("li", { class: "empty" }, "Add contacts first."),
      ),
      [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")],
    );
  }
  drawStatus();
}
