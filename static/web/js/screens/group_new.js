// Create a group from my contacts: POST /conversations {"kind":"group","title","member_ids"}.
import { api } from "../api.js";
import { h, avatar, showError } from "../dom.js";

export async function render(view) {
  let contacts = [];
  try {
    contacts = (await api("GET", "/contacts", { query: { limit: 500 } })).results || [];
  } catch (e) {
    if (e.code !== "endpoint_not_found") showError(e);
  }
  const title = h("input", { id: "group-title", name: "title", maxlength: "100", required: true, placeholder: "e.g. Weekend hikers" });
  const picks = h(
    "ul",
    { class: "list picker", "aria-label": "Members" },
    contacts.map(({ user }) =>
      h("li", {}, h("label", { class: "item" }, h("input", { type: "checkbox", name: "member", value: user.id }), avatar(user.display_name, user.avatar_url, "small"), h("span", { class: "body name" }, user.display_name))),
    ),
  );
  const create = h("button", { type: "submit", class: "primary wide" }, "Create group");
  const form = h(
    "form",
    {},
    h("div", { class: "card" }, h("div", { class: "field" }, h("label", { for: "group-title" }, "Group name"), title)),
    h("div", { class: "section-title" }, contacts.length ? "Add contacts (you can also invite with a QR code later)" : "No contacts yet — invite people with the group's QR code after creating it"),
    picks,
    h("div", { class: "card" }, create),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    create.disabled = true;
    try {
      const member_ids = [...picks.querySelectorAll("input:checked")].map((i) => Number(i.value));
      const c = await api("POST", "/conversations", { body: { kind: "group", title: title.value.trim(), member_ids } });
      location.hash = `#/c/${c.id}`;
    } catch (err) {
      showError(err);
      create.disabled = false;
    }
  });
  view.append(form);
  title.focus();
}
