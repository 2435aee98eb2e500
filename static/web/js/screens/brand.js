// One brand: follow/unfollow, marketing consent, its conversation, its offers.
import { api } from "../api.js";
import { h, clear, avatar, showError, toast } from "../dom.js";
import { claimOffer } from "./message_kinds.js";

export async function render(view, [id], shell) {
  const card = h("div", { class: "card" });
  const offers = h("div", {});
  view.append(card, offers);
  async function load() {
    let b;
    try {
      b = await api("GET", `/brands/${id}`);
    } catch (e) {
      clear(card, h("p", {}, e.status === 404 ? "No such brand." : e.human));
      return;
    }
    shell.setTitle(b.name, { back: true });
    const following = !!(b.following ?? b.is_following);
    const consent = h("input", { type: "checkbox", id: "optin", checked: !!b.marketing_opt_in });
    consent.addEventListener("change", async () => {
      try {
        await api("PATCH", `/brands/${id}/follow`, { body: { marketing_opt_in: consent.checked } });
        toast(consent.checked ? "You will get this brand's offers" : "No more offers from this brand");
      } catch (e) {
        consent.checked = !consent.checked;
        showError(e);
      }
    });
    const convId = b.conversation_id ?? b.conversation?.id;
    clear(
      card,
      following && !convId ? h("p", { class: "hint" }, "Its conversation opens here once chat is on this server.") : null,
      h("div", { class: "profile-head" }, avatar(b.name, b.avatar_url || b.logo_url, "big"), h("div", {}, h("strong", {}, b.name, b.verified ? " ✓" : ""), h("div", { class: "muted" }, b.description || ""))),
      h(
        "div",
        { class: "row" },
        h("button", { type: "button", class: following ? "grow" : "primary grow", onclick: () => toggle(following) }, following ? "Unfollow" : "Follow"),
        following && convId ? h("a", { class: "grow", href: `#/c/${convId}` }, h("button", { type: "button", class: "wide" }, "Open chat")) : null,
      ),
      following ? h("div", { class: "check" }, consent, h("label", { for: "optin" }, "Send me offers from this brand")) : null,
    );
    // Offers arrive as `offer` messages in the brand's conversation (claimed from there);
    // a brand answer may also list current ones.
    const list = b.offers || [];
    clear(
      offers,
      list.length ? h("div", { class: "section-title" }, "Offers") : null,
      list.length
        ? h(
            "ul",
            { class: "list" },
            list.map((o) =>
              h("li", { class: "item" }, h("span", { class: "body" }, h("span", { class: "name" }, o.title || o.name), h("span", { class: "preview" }, o.description || "")), o.claimed ? h("span", { class: "pill" }, "Claimed") : h("button", { type: "button", class: "primary small", onclick: (e) => claimOffer(o.id, e.target) }, "Claim")),
            ),
          )
        : null,
    );
  }
  async function toggle(following) {
    try {
      await api(following ? "DELETE" : "POST", `/brands/${id}/follow`, following ? {} : { body: { marketing_opt_in: true } });
      load();
    } catch (e) {
      showError(e);
    }
  }
  await load();
}
