// /add/<code>: someone's add-me QR code or link opened here.
import { api } from "../api.js";
import { h, showError } from "../dom.js";
import { personRow } from "./contacts.js";

export async function render(view, [code]) {
  try {
    const r = await api("GET", `/add-me/${encodeURIComponent(code)}`);
    if (r.is_me) {
      view.append(h("p", { class: "empty" }, "This is your own add-me code. Share it with friends."));
      return;
    }
    view.append(h("div", { class: "card" }, h("h3", {}, r.is_contact ? "Already a contact" : "Add this person?"), personRow(r.user, r.is_contact, null, code)));
  } catch (e) {
    if (e.status === 404) view.append(h("p", { class: "empty" }, "This add-me link is not valid (it may have been reset)."));
    else showError(e);
  }
}
