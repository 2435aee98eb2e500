// My profile (GET/PATCH /me), my add-me QR, and sign out (DELETE /auth/token).
import { api, session } from "../api.js";
import { h, avatar, showError, toast } from "../dom.js";

export async function render(view) {
  const me = await api("GET", "/me");
  session.setUser(me);
  const name = h("input", { id: "display_name", name: "display_name", value: me.display_name || "", maxlength: "64", autocomplete: "nickname", required: true });
  const bio = h("textarea", { id: "bio", name: "bio", maxlength: "280", rows: "2" }, me.bio || "");
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    { class: "card" },
    h("div", { class: "profile-head" }, avatar(me.display_name || "?", me.avatar_url, "big"), h("div", {}, h("strong", { class: "me-name" }, me.display_name || "Set your name"), h("div", { class: "muted" }, me.phone))),
    location.hash.includes("welcome") ? h("p", { class: "hint" }, "Pick the name your friends will see.") : null,
    h("div", { class: "field" }, h("label", { for: "display_name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "bio" }, "About"), bio),
    save,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const u = await api("PATCH", "/me", { body: { display_name: name.value.trim(), bio: bio.value } });
      session.setUser(u);
      form.querySelector(".me-name").textContent = u.display_name;
      toast("Saved");
    } catch (err) {
      showError(err);
    } finally {
      save.disabled = false;
    }
  });

  const qrBox = h("div", { class: "card qr-card", hidden: true });
  // The add-me QR exists once the social app has landed (GET /me/qr.svg).
  fetch("/api/v1/me/qr.svg", { headers: { Authorization: `Bearer ${session.token}` } })
    .then(async (r) => {
      if (!r.ok) return;
      const url = URL.createObjectURL(await r.blob());
      qrBox.hidden = false;
      qrBox.append(h("h3", {}, "My QR code"), h("img", { class: "qr", src: url, alt: "My add-me QR code" }), h("p", { class: "muted" }, "Friends scan this to add you."));
    })
    .catch(() => {});

  const logout = h("button", { type: "button", class: "danger wide", onclick: async () => {
    try {
      await api("DELETE", "/auth/token");
    } catch {
      /* the token is forgotten either way */
    }
    session.clear();
  } }, "Sign out");

  view.append(form, qrBox, h("div", { class: "card" }, logout));
}
