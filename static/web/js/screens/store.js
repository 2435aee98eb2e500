// The sticker store: browse and search the catalogue; what I own is marked.
import { api } from "../api.js";
import { h, clear, money, showError } from "../dom.js";

export function priceLabel(p) {
  return p.price ? money(p.price, p.currency) : "Free";
}

export function coverOf(p) {
  return p.cover_url || p.cover_image_url || p.icon_url || p.stickers?.[0]?.image_url || "";
}

export async function render(view) {
  const q = h("input", { type: "search", name: "q", placeholder: "Search sticker packs", "aria-label": "Search sticker packs" });
  const sort = h("select", { name: "sort", "aria-label": "Sort" }, h("option", { value: "" }, "Featured"), h("option", { value: "new" }, "Newest"), h("option", { value: "popular" }, "Popular"), h("option", { value: "price" }, "Price"));
  const grid = h("div", { class: "packs" });
  const bar = h("form", { class: "searchbar row" }, h("div", { class: "grow" }, q), sort);
  view.append(bar, grid);
  let owned = new Set();
  async function load() {
    try {
      const [r, mine] = await Promise.all([
        api("GET", "/store/packs", { query: { q: q.value, sort: sort.value } }),
        api("GET", "/me/sticker-packs").catch(() => ({ results: [] })),
      ]);
      owned = new Set((mine.results || mine || []).map((p) => String(p.pack_id ?? p.id)));
      const packs = r.results || [];
      clear(
        grid,
        packs.length
          ? packs.map((p) =>
              h("a", { class: "pack", href: `#/store/${p.id}`, dataset: { id: p.id } }, h("img", { src: coverOf(p), alt: "" }), h("strong", {}, p.title), h("span", { class: "price" }, owned.has(String(p.id)) || p.owned ? "Owned" : priceLabel(p))),
            )
          : h("p", { class: "empty" }, "No packs match."),
      );
    } catch (e) {
      if (e.code === "endpoint_not_found") clear(view, h("p", { class: "empty" }, "The sticker store is not available on this server yet."));
      else showError(e);
    }
  }
  bar.addEventListener("submit", (e) => (e.preventDefault(), load()));
  sort.addEventListener("change", load);
  let t;
  q.addEventListener("input", () => (clearTimeout(t), (t = setTimeout(load, 300))));
  await load();
}
