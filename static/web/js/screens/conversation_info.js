// Chat info: members, mute/pin, and for groups the invite QR code and leaving.
import { api } from "../api.js";
import { h, clear, avatar, showError, toast } from "../dom.js";
import { remember } from "../people.js";
import * as chats from "../chatstore.js";
import { authedImage, copy } from "./me.js";

export async function render(view, [id], shell) {
  let conv;
  try {
    conv = await chats.fetchConversation(id);
  } catch (e) {
    view.append(h("p", { class: "empty" }, e.status === 404 ? "This chat does not exist, or you are not in it." : e.human));
    return;
  }
  shell.setTitle(chats.titleOf(conv), { back: true });
  const members = h("ul", { class: "list", "aria-label": "Members" });
  const toggles = h("div", { class: "card" });
  view.append(h("div", { class: "section-title" }, "Members"), members, toggles);

  try {
    const r = await api("GET", `/conversations/${id}/members`, { query: { limit: 200 } });
    clear(members, (r.results || []).map((m) => {
      remember(m.user);
      return h("li", { class: "item" }, avatar(m.user.display_name, m.user.avatar_url, "small"), h("span", { class: "body name" }, m.user.display_name), m.role !== "member" ? h("span", { class: "pill" }, m.role) : null);
    }));
  } catch (e) {
    showError(e);
  }

  for (const [field, label] of [["muted", "Mute notifications"], ["pinned", "Pin to top"]]) {
    const box = h("input", { type: "checkbox", id: `t-${field}`, checked: !!conv[field] });
    box.addEventListener("change", async () => {
      try {
        chats.upsert(await api("PATCH", `/conversations/${id}`, { body: { [field]: box.checked } }));
      } catch (e) {
        box.checked = !box.checked;
        showError(e);
      }
    });
    toggles.append(h("div", { class: "check" }, box, h("label", { for: `t-${field}` }, label)));
  }

  if (conv.kind === "group") {
    const inviteBox = h("div", { class: "card qr-card" }, h("h3", {}, "Invite with a QR code"), h("p", { class: "muted" }, "Anyone who scans it or opens the link can join."));
    const make = h("button", { type: "button", class: "primary" }, "Show invite QR code");
    inviteBox.append(make);
    make.addEventListener("click", async () => {
      make.disabled = true;
      try {
        const inv = await api("POST", `/conversations/${id}/invites`, { body: { expires_in: 7 * 24 * 3600, max_uses: 100 } });
        const src = await authedImage(inv.qr_svg_url || `/api/v1/invites/${inv.token}/qr.svg`);
        const link = h("input", { readonly: true, value: inv.url, "aria-label": "Invite link", class: "invite-link" });
        make.replaceWith(
          h("img", { class: "qr", src, alt: `QR code to join ${chats.titleOf(conv)}` }),
          h("div", { class: "row" }, h("div", { class: "grow" }, link), h("button", { type: "button", onclick: () => copy(inv.url) }, "Copy")),
          inv.expires_at ? h("p", { class: "muted" }, `Valid until ${new Date(inv.expires_at).toLocaleString()}`) : null,
        );
      } catch (e) {
        make.disabled = false;
        if (e.code === "endpoint_not_found") toast("Invites are not available on this server yet.");
        else showError(e);
      }
    });
    view.append(inviteBox);
    view.append(
      h("div", { class: "card" }, h("button", { type: "button", class: "danger wide", onclick: async () => {
        if (!confirm("Leave this group?")) return;
        try {
          await api("POST", `/conversations/${id}/leave`);
          await chats.loadConversations(true);
          location.hash = "#/chats";
        } catch (e) {
          showError(e);
        }
      } }, "Leave group")),
    );
  }
}
