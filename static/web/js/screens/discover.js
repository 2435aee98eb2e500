// Discover: everything that is not a chat. Tiles appear for the parts this server has.
import { h, icon } from "../dom.js";
import { hasEndpoint } from "../api.js";

const TILES = [
  { href: "#/store", glyph: "store", title: "Sticker store", text: "Browse, buy and gift packs", probe: "/store/packs" },
  { href: "#/brands", glyph: "brand", title: "Brands", text: "Follow brands, claim offers", probe: "/brands" },
  { href: "#/pay", glyph: "pay", title: "Scan to pay", text: "Pay a merchant's QR code", probe: "/wallet" },
  { href: "#/join", glyph: "join", title: "Join a group", text: "Paste or scan an invite", probe: "/conversations" },
];

export async function render(view) {
  const grid = h("div", { class: "tiles" });
  view.append(grid);
  const shown = await Promise.all(TILES.map((t) => hasEndpoint(t.probe)));
  TILES.forEach((t, i) => {
    if (!shown[i]) return;
    grid.append(h("a", { class: "tile", href: t.href }, icon(t.glyph), h("strong", {}, t.title), h("span", { class: "muted" }, t.text)));
  });
  if (!grid.children.length) view.append(h("p", { class: "empty" }, "Nothing to discover on this server yet."));
}
