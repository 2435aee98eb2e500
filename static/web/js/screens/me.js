// My profile (GET/PATCH /me), my add-me QR, and sign out (DELETE /auth/token).
import { api, session } from "../api.js";
import { h, avatar, showError, toast } from "../dom.js";

// Images behind the bearer token (QR codes) are fetched and shown as blob: URLs.
export async function authedImage(path) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${session.token}` } });
  if (!r.ok) throw new Error(`HTTP ${r.status}`);
  return URL.createObjectURL(await r.blob());
}

export async function copy(text) {
  try {
    await navigator.clipboard.writeText(text);
    toast("Copied");
  } catch {
    toast(text);
  }
}

export async function render(view) {
  const me = await api("GET", "/me");
  session.setUser(me);
  const name = h("input", { id: "display_name", name: "display_name", value: me.display_name || "", maxlength: "64", autocomplete: "nickname", required: true });
  const bio = h("textarea", { id: "bio", name: "bio", maxlength: "280", rows: "2" }, me.bio || "");
  const findable = h("input", { type: "checkbox", id: "discoverable", name: "discoverable_by_phone", checked: !!me.discoverable_by_phone });
  const save = h("button", { type: "submit", class: "primary" }, "Save");
  const form = h(
    "form",
    { class: "card" },
    h("div", { class: "profile-head" }, avatar(me.display_name || "?", me.avatar_url, "big"), h("div", {}, h("strong", { class: "me-name" }, me.display_name || "Set your name"), h("div", { class: "muted" }, me.phone))),
    location.hash.includes("welcome") ? h("p", { class: "hint" }, "Pick the name your friends will see.") : null,
    h("div", { class: "field" }, h("label", { for: "display_name" }, "Name"), name),
    h("div", { class: "field" }, h("label", { for: "bio" }, "About"), bio),
    h("div", { class: "check" }, findable, h("label", { for: "discoverable" }, "People who have my number can find me")),
    save,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    save.disabled = true;
    try {
      const u = await api("PATCH", "/me", { body: { display_name: name.value.trim(), bio: bio.value, discoverable_by_phone: findable.checked } });
      session.setUser(u);
      form.querySelector(".me-name").textContent = u.display_name;
      form.querySelector(".avatar").replaceWith(avatar(u.display_name || "?", u.avatar_url, "big"));
      toast("Saved");
    } catch (err) {
      showError(err);
    } finally {
      save.disabled = false;
    }
  });

  const qrBox = h("div", { class: "card qr-card", hidden: true });
  // The add-me QR exists once the social app has landed (GET /me/qr.svg).
  Promise.all([api("GET", "/me/add-me"), authedImage("/api/v1/me/qr.svg")])
    .then(([code, url]) => {
      qrBox.hidden = false;
      const link = h("input", { readonly: true, value: code.url, "aria-label": "My add-me link", class: "addme-link" });
      qrBox.append(
        h("h3", {}, "My QR code"),
        h("img", { class: "qr", src: url, alt: "My add-me QR code" }),
        h("p", { class: "muted" }, "Friends scan this, or open the link, to add you."),
        h("div", { class: "row" }, h("div", { class: "grow" }, link), h("button", { type: "button", onclick: () => copy(code.url) }, "Copy")),
      );
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
