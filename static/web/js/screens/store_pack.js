// One sticker pack: its stickers, buy (from the wallet, with an Idempotency-Key), gift.
import { api, newKey } from "../api.js";
import { h, clear, showError, toast, dialog, avatar, money } from "../dom.js";
import { priceLabel, coverOf } from "./store.js";

export async function render(view, [id], shell) {
  let p;
  try {
    p = await api("GET", `/store/packs/${id}`);
  } catch (e) {
    view.append(h("p", { class: "empty" }, e.status === 404 ? "No such sticker pack." : e.human));
    return;
  }
  shell.setTitle(p.name || p.title || "Sticker pack", { back: true });
  const mine = await api("GET", "/me/sticker-packs").catch(() => ({ results: [] }));
  let owned = p.owned || (mine.results || mine || []).some((x) => String(x.pack_id ?? x.id) === String(id));
  const status = h("div", { class: "row" });
  const card = h(
    "div",
    { class: "card" },
    h("div", { class: "profile-head" }, h("img", { class: "avatar big", src: coverOf(p), alt: "" }), h("div", {}, h("strong", {}, p.name || p.title), h("div", { class: "muted" }, p.author || p.artist || p.category || ""), h("div", { class: "price" }, priceLabel(p)))),
    p.description ? h("p", {}, p.description) : null,
    status,
  );
  const grid = h("div", { class: "card stickers-grid", "aria-label": "Stickers in this pack" }, (p.stickers || []).map((s) => h("img", { src: s.image_url, alt: s.name || s.emoji || "sticker", title: s.name || s.emoji || "" })));
  view.append(card, grid);

  function drawStatus() {
    const buy = h("button", { type: "button", class: "primary grow", onclick: purchase }, p.price ? `Buy for ${priceLabel(p)}` : "Get it free");
    const gift = h("button", { type: "button", class: "grow", onclick: giftDialog }, "Gift");
    clear(status, owned ? h("span", { class: "pill owned" }, "In your collection — use it in any chat") : buy, p.price ? gift : null);
  }
  // One key per visit to this page: pressing Buy twice, or retrying after a timeout, is one purchase.
  const buyKey = newKey();
  async function purchase(e) {
    e.target.disabled = true;
    try {
      await api("POST", `/store/packs/${id}/purchase`, { idem: buyKey });
      owned = true;
      toast(`${p.name || "Pack"} is yours`);
      drawStatus();
    } catch (err) {
      e.target.disabled = false;
      if (err.code === "already_owned") {
        owned = true;
        drawStatus();
      } else showError(err);
    }
  }
  async function giftDialog() {
    const contacts = (await api("GET", "/contacts", { query: { limit: 500 } }).catch(() => ({ results: [] }))).results || [];
    const key = newKey();
    const dlg = dialog(
      `Gift ${p.name || "this pack"}`,
      h(
        "ul",
        { class: "list" },
        contacts.length
          ? contacts.map(({ user }) =>
              h("li", {}, h("button", { type: "button", class: "item", onclick: async () => {
                try {
                  await api("POST", `/store/packs/${id}/gift`, { body: { to_user_id: user.id }, idem: key });
                  toast(`Sent to ${user.display_name} (${money(p.price, p.currency)})`);
                  dlg.close();
                } catch (err) {
                  showError(err);
                }
              } }, avatar(user.display_name, user.avatar_url, "small"), h("span", { class: "body name" }, user.display_name))),
            )
          : h("li", { class: "empty" }, "Add contacts first."),
      ),
      [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")],
    );
  }
  drawStatus();
}
