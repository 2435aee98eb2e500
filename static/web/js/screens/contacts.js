// Contacts and friend requests (social): add by phone number (hashed discovery) or by an
// add-me link, accept/decline requests, start a chat, remove.
import { api } from "../api.js";
import { realtime } from "../realtime.js";
import { h, clear, avatar, showError, toast, dialog } from "../dom.js";
import { remember } from "../people.js";

export async function openDirect(userId) {
  const c = await api("POST", "/conversations", { body: { kind: "direct", user_id: Number(userId) } });
  location.hash = `#/c/${c.id}`;
}

async function sha256Hex(text) {
  const buf = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(buf)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

// "https://host/add/<code>", "/add/<code>" or the bare code.
export function addMeCodeFrom(text) {
  const t = String(text).trim();
  const m = t.match(/\/(?:add|u)\/([A-Za-z0-9_-]+)/);
  return m ? m[1] : /^[A-Za-z0-9_-]{8,64}$/.test(t) ? t : null;
}

function addDialog(reload) {
  const phone = h("input", { type: "tel", name: "phone", placeholder: "+1 415 555 0123", "aria-label": "Their phone number" });
  const link = h("input", { name: "link", placeholder: "Paste an add-me link", "aria-label": "Add-me link or code" });
  const out = h("div", { class: "found", "aria-live": "polite" });
  const byPhone = h("form", { class: "row" }, h("div", { class: "grow" }, phone), h("button", { type: "submit" }, "Find"));
  const byLink = h("form", { class: "row" }, h("div", { class: "grow" }, link), h("button", { type: "submit" }, "Open"));
  byPhone.addEventListener("submit", async (e) => {
    e.preventDefault();
    const e164 = phone.value.replace(/[\s()-]/g, "");
    if (!/^\+\d{6,15}$/.test(e164)) return toast("Type the number in international form, e.g. +14155550123.");
    if (!crypto.subtle) return toast("This page is not in a secure context; paste an add-me link instead.");
    try {
      // Only a hash of the number leaves the device, as a phone's address-book sync does.
      const r = await api("POST", "/contacts/discover", { body: { phone_hashes: [await sha256Hex(e164)] } });
      const hit = (r.results || [])[0];
      clear(out, hit ? personRow(hit.user, hit.is_contact, () => (dlg.close(), reload())) : h("p", { class: "muted" }, "Nobody findable with that number. Ask them for their add-me link."));
    } catch (err) {
      showError(err);
    }
  });
  byLink.addEventListener("submit", (e) => {
    e.preventDefault();
    const code = addMeCodeFrom(link.value);
    if (!code) return toast("That is not an add-me link.");
    dlg.close();
    location.hash = `#/add/${code}`;
  });
  const dlg = dialog("Add a contact", h("div", {}, h("p", { class: "label" }, "By phone number"), byPhone, h("p", { class: "label" }, "By link"), byLink, out), [h("button", { type: "button", onclick: () => dlg.close() }, "Close")]);
  phone.focus();
}

export function personRow(user, isContact, done, addMeCode) {
  remember(user);
  const action = isContact
    ? h("button", { type: "button", class: "primary small", onclick: () => openDirect(user.id).catch(showError) }, "Message")
    : h("button", { type: "button", class: "primary small", onclick: async (e) => {
        e.target.disabled = true;
        try {
          const body = addMeCode ? { add_me_code: addMeCode } : { to_user_id: user.id };
          const fr = await api("POST", "/friend-requests", { body: { ...body, message: "Hi, it's me on Plaza" } });
          toast(fr.status === "accepted" ? `You and ${user.display_name} are now contacts` : "Friend request sent");
          e.target.textContent = fr.status === "accepted" ? "Added" : "Requested";
          done && done();
        } catch (err) {
          e.target.disabled = false;
          showError(err);
        }
      } }, "Add contact");
  return h("div", { class: "item" }, avatar(user.display_name, user.avatar_url), h("span", { class: "body" }, h("span", { class: "name" }, user.display_name || `User ${user.id}`)), action);
}

export async function render(view, _p, shell) {
  shell.setActions(h("button", { type: "button", onclick: () => addDialog(load) }, "Add"));
  const requests = h("section", { "aria-label": "Friend requests" });
  const list = h("ul", { class: "list", "aria-label": "Contacts" });
  view.append(requests, h("div", { class: "section-title" }, "Contacts"), list);

  async function load() {
    let inc, out, contacts;
    try {
      [inc, out, contacts] = await Promise.all([
        api("GET", "/friend-requests", { query: { direction: "incoming" } }),
        api("GET", "/friend-requests", { query: { direction: "outgoing" } }),
        api("GET", "/contacts"),
      ]);
    } catch (e) {
      if (e.code === "endpoint_not_found") {
        clear(view, h("p", { class: "empty" }, "Contacts are not available on this server yet."));
        return;
      }
      return showError(e);
    }
    const pendingIn = (inc.results || []).filter((r) => r.status === "pending");
    const pendingOut = (out.results || []).filter((r) => r.status === "pending");
    clear(
      requests,
      pendingIn.length || pendingOut.length ? h("div", { class: "section-title" }, "Friend requests") : null,
      pendingIn.length || pendingOut.length
        ? h(
            "ul",
            { class: "list" },
            pendingIn.map((r) =>
              h(
                "li",
                { class: "item request", dataset: { id: r.id } },
                avatar(r.from_user.display_name, r.from_user.avatar_url),
                h("span", { class: "body" }, h("span", { class: "name" }, r.from_user.display_name), h("span", { class: "preview" }, r.message || "wants to add you")),
                h("button", { type: "button", class: "small", onclick: () => respond(r, "decline") }, "Decline"),
                h("button", { type: "button", class: "primary small", onclick: () => respond(r, "accept") }, "Accept"),
              ),
            ),
            pendingOut.map((r) =>
              h("li", { class: "item" }, avatar(r.to_user.display_name, r.to_user.avatar_url), h("span", { class: "body" }, h("span", { class: "name" }, r.to_user.display_name), h("span", { class: "preview" }, "Waiting for them to accept")), h("button", { type: "button", class: "small", onclick: () => cancel(r) }, "Cancel")),
            ),
          )
        : null,
    );
    const rows = contacts.results || [];
    clear(
      list,
      rows.length
        ? rows.map(({ user }) => {
            remember(user);
            return h(
              "li",
              {},
              h("button", { type: "button", class: "item contact", dataset: { id: user.id }, onclick: () => contactMenu(user) }, avatar(user.display_name, user.avatar_url), h("span", { class: "body" }, h("span", { class: "name" }, user.display_name || `User ${user.id}`))),
            );
          })
        : h("li", { class: "empty" }, "No contacts yet. Tap Add, or share your QR code from Me."),
    );
  }

  async function respond(r, what) {
    try {
      await api("POST", `/friend-requests/${r.id}/${what}`);
      toast(what === "accept" ? `You and ${r.from_user.display_name} are now contacts` : "Declined");
      load();
    } catch (e) {
      showError(e);
    }
  }
  async function cancel(r) {
    try {
      await api("DELETE", `/friend-requests/${r.id}`);
      load();
    } catch (e) {
      showError(e);
    }
  }
  function contactMenu(user) {
    const dlg = dialog(user.display_name || "Contact", h("div", { class: "profile-head" }, avatar(user.display_name, user.avatar_url, "big"), h("strong", {}, user.display_name)), [
      h("button", { type: "button", class: "danger", onclick: async () => {
        if (!confirm(`Remove ${user.display_name} from your contacts?`)) return;
        try {
          await api("DELETE", `/contacts/${user.id}`);
          dlg.close();
          load();
        } catch (e) {
          showError(e);
        }
      } }, "Remove"),
      h("button", { type: "button", class: "primary", onclick: () => (dlg.close(), openDirect(user.id).catch(showError)) }, "Message"),
    ]);
  }

  const offs = ["friend_request.new", "friend_request.accepted", "contact.removed"].map((t) => realtime.on(t, () => load()));
  await load();
  return () => offs.forEach((f) => f());
}
