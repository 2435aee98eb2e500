// Brands (official accounts): search, see which I follow.
import { api } from "../api.js";
import { h, clear, avatar, showError } from "../dom.js";

export async function render(view) {
  const q = h("input", { type: "search", name: "q", placeholder: "Search brands", "aria-label": "Search brands" });
  const list = h("ul", { class: "list", "aria-label": "Brands" });
  const bar = h("form", { class: "searchbar" }, q);
  view.append(bar, list);
  async function load() {
    try {
      const r = await api("GET", "/brands", { query: { q: q.value } });
      const rows = r.results || [];
      clear(
        list,
        rows.length
          ? rows.map((b) =>
              h("li", {}, h("a", { class: "item", href: `#/brands/${b.id}` }, avatar(b.name, b.logo_url || b.avatar_url), h("span", { class: "body" }, h("span", { class: "top" }, h("span", { class: "name" }, b.name), b.following || b.is_following ? h("span", { class: "pill" }, "Following") : null), h("span", { class: "preview" }, b.description || b.tagline || "")))),
            )
          : h("li", { class: "empty" }, "No brands found."),
      );
    } catch (e) {
      if (e.code === "endpoint_not_found") clear(view, h("p", { class: "empty" }, "Brands are not available on this server yet."));
      else showError(e);
    }
  }
  bar.addEventListener("submit", (e) => (e.preventDefault(), load()));
  let t;
  q.addEventListener("input", () => (clearTimeout(t), (t = setTimeout(load, 300))));
  await load();
}
