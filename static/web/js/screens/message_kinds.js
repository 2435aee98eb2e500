// How each message kind looks, and what tapping a money message does.
import { api, newKey, session } from "../api.js";
import { h, clear, money, dialog, showError, toast, avatar, icon } from "../dom.js";
import { nameOf, isMe } from "../people.js";
void session;

const pay = (m) => m.payload || {};

export function stickerUrl(m) {
  const p = pay(m);
  return p.thumbnail_url || p.image_url || p.url || m._preview || "";
}

export function renderBody(m, { onOpen }) {
  const p = pay(m);
  switch (m.kind) {
    case "sticker":
      return h("div", { class: "bubble sticker" }, h("img", { src: stickerUrl(m), alt: p.name || p.emoji || "Sticker" }));
    case "image":
      return h("div", { class: "bubble image" }, h("a", { href: p.url || m.url, target: "_blank", rel: "noopener" }, h("img", { src: p.thumbnail_url || p.url || m.url, alt: m.text || "Photo", loading: "lazy" })));
    case "voice":
      return h("div", { class: "bubble voice" }, h("audio", { controls: true, preload: "none", src: p.url || m.url, "aria-label": "Voice message" }), p.duration_ms ? ` ${Math.round(p.duration_ms / 1000)}″` : m.duration ? ` ${m.duration}″` : "");
    case "file":
      return h("div", { class: "bubble file" }, "File: ", h("a", { href: p.url || m.url, download: p.name || "" }, p.name || m.text || "File"));
    case "location":
      return h("div", { class: "bubble" }, "Location: ", p.name || m.text || `${p.lat}, ${p.lng}`);
    case "transfer": {
      const status = p.status ? ` · ${p.status}` : "";
      return h(
        "button",
        { type: "button", class: `bubble transfer ${p.status && p.status !== "pending" ? "opened" : ""}`, onclick: () => onOpen(m) },
        h("span", { class: "big" }, p.amount !== undefined ? money(p.amount, p.currency) : "Transfer"),
        h("span", {}, (m.text || p.note || "Transfer") + status),
      );
    }
    case "red_packet": {
      const done = p.status && p.status !== "open";
      return h(
        "button",
        { type: "button", class: `bubble red_packet ${done ? "opened" : ""}`, onclick: () => onOpen(m), "aria-label": `Red packet: ${p.greeting || m.text || "Best wishes"}. Open it.` },
        h("span", { class: "big" }, icon("packet"), " ", p.greeting || m.text || "Best wishes"),
        h("span", {}, done ? (p.status === "expired" ? "Red packet expired" : "All opened") : `Red packet · ${p.claimed_count || 0}/${p.count || "?"} opened`),
      );
    }
    case "offer": {
      // A brand's offer: keep it with one tap; it applies at that brand's checkout.
      const o = p.offer || {};
      const oid = o.id ?? p.offer_id;
      const what = o.kind === "percent" ? `${o.percent_off}% off` : o.amount_off_minor ? `${money(o.amount_off_minor, o.currency)} off` : "";
      return h(
        "div",
        { class: "bubble offer" },
        h("span", { class: "offer-tag" }, "Offer"),
        h("strong", { class: "offer-title" }, o.title || "Offer"),
        what ? h("div", { class: "offer-value" }, what, o.min_spend_minor ? ` when you spend ${money(o.min_spend_minor, o.currency)}` : "") : null,
        m.text ? h("div", {}, m.text) : null,
        o.ends_at ? h("div", { class: "muted" }, `Until ${new Date(o.ends_at).toLocaleDateString()}`) : null,
        oid ? h("div", { class: "actions" }, h("button", { type: "button", class: "primary small", onclick: (e) => claimOffer(oid, e.target) }, "Claim offer")) : null,
      );
    }
    default:
      if (p.card) {
        // Opening a campaign card's link counts once in the brand's funnel.
        const click = () => p.campaign_id && api("POST", `/brands/${p.brand_id}/campaigns/${p.campaign_id}/click`).catch(() => {});
        return h("div", { class: "bubble card-msg" }, p.card.image_url ? h("img", { src: p.card.image_url, alt: "" }) : null, h("strong", {}, p.card.title), m.text ? h("div", {}, m.text) : null, p.card.link ? h("a", { href: p.card.link, target: "_blank", rel: "noopener noreferrer", onclick: click }, "Open") : null);
      }
      if (p.sale) {
        const buy = h("button", { type: "button", class: "primary small" }, `Buy for ${money(p.sale.price_minor, p.sale.currency)}`);
        const key = newKey(); // one order per person; the key also makes a retried tap safe
        buy.addEventListener("click", async () => {
          buy.disabled = true;
          try {
            await api("POST", `/brands/${p.brand_id}/sales/${p.sale.id}/orders`, { idem: key });
            buy.textContent = "Bought";
            toast(`Bought ${p.sale.title}`);
          } catch (e) {
            buy.disabled = false;
            showError(e);
          }
        });
        return h("div", { class: "bubble offer" }, h("span", { class: "offer-tag" }, "Exclusive sale"), h("strong", {}, p.sale.title), h("div", {}, money(p.sale.price_minor, p.sale.currency), " · from ", new Date(p.sale.starts_at).toLocaleString()), m.text ? h("div", {}, m.text) : null, h("div", { class: "actions" }, buy));
      }
      return h("div", { class: "bubble" }, m.text || "");
  }
}

export async function claimOffer(offerId, btn) {
  if (btn) btn.disabled = true;
  try {
    // Claiming twice is harmless (the server keeps one claim per person).
    await api("POST", `/offers/${offerId}/claim`);
    toast("Offer kept — it applies by itself at this brand's checkout.");
    if (btn) btn.textContent = "Claimed";
  } catch (e) {
    showError(e);
    if (btn) btn.disabled = false;
  }
}

export function openMoney(m, conv) {
  if (m.kind === "transfer") return openTransfer(m);
  if (m.kind === "red_packet") return openRedPacket(m, conv);
}

async function openTransfer(m) {
  const id = pay(m).transfer_id || pay(m).id;
  let t;
  try {
    t = await api("GET", `/transfers/${id}`);
  } catch (e) {
    return showError(e);
  }
  const mineToTake = isMe(t.to_user_id ?? t.recipient_id) && t.status === "pending";
  const body = h(
    "div",
    { class: "transfer-detail" },
    h("p", { class: "amount-big" }, money(t.amount, t.currency)),
    h("p", {}, `From ${nameOf(t.from_user_id ?? t.sender_id)} to ${nameOf(t.to_user_id ?? t.recipient_id)}`),
    t.note ? h("p", { class: "muted" }, t.note) : null,
    h("p", { class: "pill" }, t.status),
  );
  const dlg = dialog("Transfer", body, [
    mineToTake
      ? h("button", { type: "button", onclick: () => act("return") }, "Return")
      : null,
    mineToTake ? h("button", { type: "button", class: "primary", onclick: () => act("accept") }, "Accept") : null,
    h("button", { type: "button", onclick: () => dlg.close() }, "Close"),
  ].filter(Boolean));
  async function act(what) {
    try {
      const r = await api("POST", `/transfers/${id}/${what}`, { idem: newKey() });
      toast(what === "accept" ? `Received ${money(r.amount ?? t.amount, r.currency ?? t.currency)}` : "Returned");
      dlg.close();
    } catch (e) {
      showError(e);
    }
  }
}

// Open a red packet: a coin flips while the claim is in flight, then the amount pops and
// the list of who got what rises in, with the luckiest marked once the packet is done.
async function openRedPacket(m, conv) {
  const id = pay(m).red_packet_id || pay(m).id;
  const greeting = pay(m).greeting || m.text || "Best wishes";
  const inner = h(
    "div",
    { class: "packet-open" },
    h("div", { class: "packet-from" }, avatar(nameOf(m.sender_id), null, "small"), " ", `${isMe(m.sender_id) ? "Your" : `${nameOf(m.sender_id)}'s`} red packet`),
    h("h2", {}, greeting),
  );
  const dlg = dialog("Red packet", inner, []);
  dlg.classList.add("packet");
  const close = h("button", { type: "button", onclick: () => dlg.close() }, "Close");
  let d = null;
  try {
    d = await api("GET", `/red-packets/${id}`);
  } catch (e) {
    showError(e);
  }
  const senderCannotClaim = isMe(m.sender_id) && conv?.kind !== "group";
  if (!d || d.my_amount !== null || d.status !== "open" || senderCannotClaim) {
    showDetails(inner, d, d?.my_amount);
    inner.append(h("div", { class: "actions" }, close));
    return;
  }
  const openBtn = h("button", { type: "button", class: "coin-btn primary" }, "Open");
  inner.append(h("div", { class: "actions center" }, openBtn), h("div", { class: "actions" }, close));
  openBtn.addEventListener("click", async () => {
    openBtn.replaceWith(h("div", { class: "coin", "aria-hidden": "true" }, "¥"));
    let mine = null;
    const flip = new Promise((r) => setTimeout(r, 900)); // let the coin turn at least once
    try {
      mine = (await api("POST", `/red-packets/${id}/claim`)).amount;
    } catch (e) {
      if (e.code === "already_claimed") mine = e.body?.error?.amount ?? null;
      else if (e.code === "red_packet_empty") toast("Too slow — this red packet is empty.");
      else if (e.code === "red_packet_expired") toast("This red packet has expired.");
      else showError(e);
    }
    await flip;
    try {
      d = await api("GET", `/red-packets/${id}`);
    } catch {
      /* show what we have */
    }
    clear(inner, h("h2", {}, greeting));
    showDetails(inner, d, mine ?? d?.my_amount);
    inner.append(h("div", { class: "actions" }, close));
  });
}

function showDetails(inner, d, mine) {
  const currency = d?.currency || "USD";
  if (mine !== null && mine !== undefined) {
    inner.append(h("p", { class: "got", role: "status" }, money(mine, currency)), h("p", {}, "went into your wallet"));
  } else if (d && d.status !== "open") {
    inner.append(h("p", { class: "got" }, d.status === "expired" ? "Expired" : "All gone"));
  }
  if (!d) return;
  const claims = d.claims || [];
  inner.append(h("p", { class: "muted-light" }, `${claims.length} of ${d.count} opened · ${money(d.total, currency)} in all`));
  const ul = h("ul", { class: "claims", "aria-label": "Who got what" });
  const luckiestId = d.luckiest?.user?.id;
  claims.forEach((c, i) => {
    const best = luckiestId !== undefined && c.user?.id === luckiestId;
    const li = h("li", { class: best ? "best" : "" }, h("span", {}, c.user?.display_name || nameOf(c.user?.id), best ? h("span", { class: "lucky" }, " ★ luckiest") : null), h("strong", {}, money(c.amount, currency)));
    li.style.animationDelay = `${i * 150}ms`;
    ul.append(li);
  });
  inner.append(ul);
}
