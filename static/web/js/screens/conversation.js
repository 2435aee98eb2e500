// One conversation: history (newest first from the API, infinite scroll upwards), live
// messages, typing, read receipts, recall, stickers, image/voice upload, search, and the
// money kinds (transfer, red packet). Sends are idempotent: one client_id per message,
// reused if the send is retried over REST.
import { api, newKey, session, hasEndpoint } from "../api.js";
import { realtime } from "../realtime.js";
import { h, clear, avatar, timeShort, showError, toast, dialog, icon } from "../dom.js";
import { nameOf, isMe, remember } from "../people.js";
import * as chats from "../chatstore.js";
import { renderBody, openMoney } from "./message_kinds.js";
import { composerTools } from "./composer_tools.js";

const PAGE = 30;
const RECALL_WINDOW_MS = 2 * 60 * 1000;

export async function render(view, [id], shell) {
  const cleanups = [];
  let conv = chats.conversation(id);
  try {
    conv = await chats.fetchConversation(id);
  } catch (e) {
    view.append(h("p", { class: "empty" }, e.status === 404 ? "This chat does not exist, or you are not in it." : e.human || e.message));
    return;
  }
  const isGroup = conv.kind === "group";
  // Names of the people in a group (messages carry only sender_id).
  async function learnMembers() {
    try {
      const r = await api("GET", `/conversations/${id}/members`, { query: { limit: 500 } });
      for (const m of r.results || []) remember(m.user);
    } catch {
      /* names fall back to "User N" */
    }
  }
  if (isGroup) await learnMembers();
  shell.setTitle(chats.titleOf(conv), { back: true });
  const searchBtn = h("button", { type: "button", "aria-label": "Search this chat", title: "Search", hidden: true, onclick: () => openSearch(id, jumpTo) }, icon("search"));
  shell.setActions(searchBtn, h("a", { href: `#/c/${id}/info`, "aria-label": "Chat info", title: "Chat info" }, icon("more")));
  // Message search is its own feature; offer it where the server has it.
  hasEndpoint("/search/messages?q=a").then((ok) => (searchBtn.hidden = !ok));

  const list = h("div", { class: "messages", role: "log", "aria-label": "Messages", "aria-live": "polite", tabindex: "0" });
  const typingLine = h("div", { class: "typing", "aria-live": "polite" });
  const input = h("textarea", { rows: "1", name: "text", placeholder: "Message", "aria-label": "Write a message", maxlength: "4000" });
  const sendBtn = h("button", { type: "submit", class: "primary send" }, "Send");
  const trayBox = h("div", {});
  const toolsBtn = h("button", { type: "button", class: "tool", "aria-label": "Attach: stickers, photo, voice, money", "aria-expanded": "false" }, icon("plus"));
  const composer = h("form", { class: "composer" }, toolsBtn, input, sendBtn);
  view.append(list, typingLine, composer, trayBox);

  const bySeq = new Map(); // seq -> {msg, el}
  const pending = new Map(); // client_id -> {msg, el}
  let oldestSeq = null;
  let newestSeq = 0;
  let reachedStart = false;
  let loadingOlder = false;
  let peerReadSeq = conv.peer_last_read_seq || conv.read_seq || 0;
  const readBy = new Map(); // user_id -> seq (groups)
  for (const m of conv.members || []) {
    const u = m.user || m;
    if (m.last_read_seq !== undefined && !isMe(u.id ?? m.user_id)) readBy.set(String(u.id ?? m.user_id), m.last_read_seq);
  }

  function meta(msg) {
    const bits = [timeShort(msg.created_at)];
    if (msg.edited_at) bits.push("edited");
    if (isMe(msg.sender_id) && msg.seq) {
      if (isGroup) {
        const n = [...readBy.values()].filter((s) => s >= msg.seq).length;
        if (n) bits.push(h("span", { class: "read" }, `Read by ${n}`));
      } else if (peerReadSeq >= msg.seq) bits.push(h("span", { class: "read" }, "Read"));
    }
    return bits;
  }

  function messageEl(msg, state = "") {
    if (msg.kind === "system") return h("div", { class: "system", dataset: { seq: msg.seq } }, msg.text);
    if (msg.recalled || msg.recalled_at) {
      return h("div", { class: "system recalled", dataset: { seq: msg.seq } }, `${isMe(msg.sender_id) ? "You" : nameOf(msg.sender_id)} recalled a message`);
    }
    const mine = isMe(msg.sender_id);
    const bubble = renderBody(msg, { conversation: conv, onOpen: (m) => openMoney(m, conv) });
    const col = h(
      "div",
      { class: "col" },
      isGroup && !mine ? h("span", { class: "who" }, nameOf(msg.sender_id)) : null,
      bubble,
      h("span", { class: "meta" }, state === "pending" ? "Sending…" : state === "failed" ? "Not sent — tap to retry" : meta(msg)),
    );
    const el = h(
      "div",
      { class: `msg ${mine ? "me" : "them"} ${state}`, dataset: { seq: msg.seq || "", clientId: msg.client_id || "", kind: msg.kind } },
      mine ? avatar(session.user?.display_name || "Me", session.user?.avatar_url, "small") : msg.sender_id == null ? avatar(chats.titleOf(conv), conv.avatar_url, "small") : avatar(nameOf(msg.sender_id), null, "small"),
      col,
    );
    if (msg.seq) {
      bubble.addEventListener("contextmenu", (e) => (e.preventDefault(), messageMenu(msg)));
      if (!["transfer", "red_packet", "offer"].includes(msg.kind)) bubble.addEventListener("dblclick", () => messageMenu(msg));
    }
    return el;
  }

  // Long-press / right-click / double-click on a message: recall (mine, 2 min), edit (my
  // text, 24 h), delete for me (any).
  function messageMenu(msg) {
    const mine = isMe(msg.sender_id);
    const age = Date.now() - new Date(msg.created_at).getTime();
    const act = (fn) => async () => {
      dlg.close();
      try {
        await fn();
      } catch (e) {
        showError(e);
      }
    };
    const buttons = [];
    if (mine && age < RECALL_WINDOW_MS && !["transfer", "red_packet", "offer"].includes(msg.kind)) {
      buttons.push(h("button", { type: "button", class: "danger", onclick: act(async () => {
        await api("DELETE", `/conversations/${id}/messages/${msg.seq}`);
        applyRecall(msg.seq);
      }) }, "Recall"));
    }
    if (mine && msg.kind === "text" && age < 24 * 3600 * 1000) {
      buttons.push(h("button", { type: "button", onclick: act(async () => {
        const text = prompt("Edit message", msg.text);
        if (text === null || !text.trim() || text === msg.text) return;
        place(await api("PATCH", `/conversations/${id}/messages/${msg.seq}`, { body: { text } }));
      }) }, "Edit"));
    }
    buttons.push(h("button", { type: "button", onclick: act(async () => {
      await api("DELETE", `/conversations/${id}/messages/${msg.seq}`, { query: { for: "me" } });
      const got = bySeq.get(msg.seq);
      if (got) got.el.remove();
      bySeq.delete(msg.seq);
    }) }, "Delete for me"));
    buttons.push(h("button", { type: "button", onclick: () => dlg.close() }, "Close"));
    const dlg = dialog("Message", h("p", { class: "muted" }, (msg.text || msg.kind).slice(0, 120)), buttons);
  }

  function nearBottom() {
    return list.scrollHeight - list.scrollTop - list.clientHeight < 120;
  }
  function toBottom() {
    list.scrollTop = list.scrollHeight;
  }

  function place(msg, state) {
    remember({ id: msg.sender_id, ...(msg.sender || {}) });
    if (msg.client_id && pending.has(msg.client_id) && msg.seq) {
      const p = pending.get(msg.client_id);
      pending.delete(msg.client_id);
      p.el.remove();
    }
    if (msg.seq && bySeq.has(msg.seq)) {
      const old = bySeq.get(msg.seq);
      const el = messageEl(msg);
      old.el.replaceWith(el);
      bySeq.set(msg.seq, { msg, el });
      return;
    }
    const el = messageEl(msg, state);
    if (!msg.seq) {
      list.append(el);
      pending.set(msg.client_id, { msg, el });
      return;
    }
    bySeq.set(msg.seq, { msg, el });
    // Insert in seq order (history pages arrive older-first above, live ones below).
    const after = [...list.children].find((c) => c.dataset.seq && Number(c.dataset.seq) > msg.seq);
    if (after) list.insertBefore(el, after);
    else {
      const firstPending = [...list.children].find((c) => c.classList.contains("pending") || c.classList.contains("failed"));
      if (firstPending) list.insertBefore(el, firstPending);
      else list.append(el);
    }
    newestSeq = Math.max(newestSeq, msg.seq);
    if (oldestSeq === null || msg.seq < oldestSeq) oldestSeq = msg.seq;
  }

  function applyRecall(seq) {
    const got = bySeq.get(seq);
    if (!got) return;
    place({ ...got.msg, recalled: true, text: "" });
  }

  function refreshMeta() {
    for (const { msg, el } of bySeq.values()) {
      if (!isMe(msg.sender_id)) continue;
      const m = el.querySelector(".meta");
      if (m) clear(m, meta(msg));
    }
  }

  async function loadOlder() {
    if (loadingOlder || reachedStart) return;
    loadingOlder = true;
    const before = list.scrollHeight - list.scrollTop;
    try {
      const r = await api("GET", `/conversations/${id}/messages`, { query: { before_seq: oldestSeq ?? undefined, limit: PAGE } });
      const page = r.results || [];
      for (const m of page) place(m);
      if (page.length < PAGE && !r.next) {
        reachedStart = true;
        list.prepend(h("div", { class: "older" }, "Beginning of the chat"));
      }
      list.scrollTop = list.scrollHeight - before;
    } catch (e) {
      showError(e);
    } finally {
      loadingOlder = false;
    }
  }

  async function fillGap() {
    // A live message skipped a seq (we were away): fetch what is between.
    let after = newestSeq;
    for (let i = 0; i < 20; i++) {
      const r = await api("GET", `/conversations/${id}/messages`, { query: { after_seq: after, limit: 100 } });
      const page = (r.results || []).slice().sort((a, b) => a.seq - b.seq);
      for (const m of page) place(m);
      if (!page.length || page.length < 100) break;
      after = page[page.length - 1].seq;
    }
  }

  let readSent = conv.last_read_seq || 0;
  function markRead() {
    if (document.hidden || !newestSeq || newestSeq <= readSent) return;
    readSent = newestSeq;
    // REST, so the receipt survives a socket that is reconnecting; the server fans it
    // out to the other members as receipt.read.
    api("POST", `/conversations/${id}/read`, { body: { seq: newestSeq } }).catch(() => {});
  }

  // Show one message (a search hit): page back until it is loaded, then flash it.
  async function jumpTo(seq) {
    for (let i = 0; i < 50 && !bySeq.has(seq) && !reachedStart; i++) await loadOlder();
    const got = bySeq.get(seq);
    if (!got) return toast("That message is no longer here.");
    got.el.scrollIntoView({ block: "center" });
    got.el.classList.add("flash");
    setTimeout(() => got.el.classList.remove("flash"), 2000);
  }

  chats.setOpen(id);
  cleanups.push(() => chats.setOpen(null));

  list.addEventListener("scroll", () => {
    if (list.scrollTop < 80) loadOlder();
  });

  const onVisible = () => markRead();
  document.addEventListener("visibilitychange", onVisible);
  cleanups.push(() => document.removeEventListener("visibilitychange", onVisible));

  const same = (ev) => String(ev.conversation_id ?? ev.message?.conversation_id) === String(id);
  cleanups.push(
    realtime.on("message.new", async (ev) => {
      if (!same(ev)) return;
      const msg = ev.message || ev;
      const stick = nearBottom() || isMe(msg.sender_id);
      if (newestSeq && msg.seq > newestSeq + 1) await fillGap().catch(() => {});
      place(msg);
      typers.delete(String(msg.sender_id));
      drawTyping();
      if (stick) toBottom();
      markRead();
    }),
    realtime.on("message.recalled", (ev) => same(ev) && applyRecall(ev.seq ?? ev.message?.seq)),
    realtime.on("message.deleted", (ev) => {
      if (!same(ev) || !bySeq.has(ev.seq)) return;
      bySeq.get(ev.seq).el.remove();
      bySeq.delete(ev.seq);
    }),
    realtime.on("message.edited", (ev) => {
      if (!same(ev)) return;
      const msg = ev.message;
      if (msg && bySeq.has(msg.seq)) place(msg);
    }),
    realtime.on("receipt.read", (ev) => {
      if (!same(ev) || isMe(ev.user_id)) return;
      if (isGroup) readBy.set(String(ev.user_id), Math.max(readBy.get(String(ev.user_id)) || 0, ev.seq));
      else peerReadSeq = Math.max(peerReadSeq, ev.seq);
      refreshMeta();
    }),
    realtime.on("typing", (ev) => {
      if (!same(ev) || isMe(ev.user_id)) return;
      typers.set(String(ev.user_id), Date.now());
      drawTyping();
      setTimeout(drawTyping, 5200);
    }),
    realtime.on("synced", () => fillGap().catch(() => {})),
    realtime.on("member.joined", (ev) => {
      if (same(ev) && ev.user) remember(ev.user);
    }),
  );

  const typers = new Map();
  function drawTyping() {
    const now = Date.now();
    for (const [u, t] of typers) if (now - t > 5000) typers.delete(u);
    const names = [...typers.keys()].map(nameOf);
    typingLine.textContent = names.length ? `${names.join(", ")} ${names.length > 1 ? "are" : "is"} typing…` : "";
  }

  let lastTyping = 0;
  input.addEventListener("input", () => {
    input.style.height = "auto";
    input.style.height = Math.min(120, input.scrollHeight) + "px";
    if (Date.now() - lastTyping > 3000 && input.value.trim()) {
      lastTyping = Date.now();
      realtime.send({ type: "typing", conversation_id: Number(id) });
    }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });

  // Send: over the socket when it is up (ack carries the seq); otherwise, or if the ack
  // does not come, over REST with the same client_id, which the server deduplicates.
  async function send(fields) {
    const client_id = newKey();
    const local = { ...fields, client_id, sender_id: session.user.id, created_at: new Date().toISOString() };
    place(local, "pending");
    toBottom();
    await deliver(local);
  }
  async function deliver(local) {
    const frame = { type: "message.send", conversation_id: Number(id), ...stripLocal(local) };
    let msg;
    try {
      const ack = await realtime.request(frame);
      msg = { ...local, seq: ack.seq, id: ack.id, created_at: ack.created_at || local.created_at };
      // The ack is small; kinds whose payload the server fills in (sticker image, upload
      // url) are read back once as the server rendered them.
      if (local.kind !== "text") {
        const r = await api("GET", `/conversations/${id}/messages`, { query: { after_seq: ack.seq - 1, limit: 1 } }).catch(() => null);
        const full = (r?.results || []).find((x) => x.seq === ack.seq);
        if (full) msg = full;
      }
    } catch (e) {
      // A frame the server refused on its merits is final; a socket that is down, slow,
      // or does not speak message.send yet is retried over REST with the same client_id.
      if (e.ws && !["unknown_frame_type", "server_error"].includes(e.code)) return fail(local, e);
      try {
        msg = await api("POST", `/conversations/${id}/messages`, { body: stripLocal(local) });
      } catch (err) {
        return fail(local, err);
      }
    }
    realtime.markSeen({ type: "message.new", conversation_id: Number(id), message: msg });
    place(msg);
    chats.upsert({ ...chats.conversation(id), last_message: msg, last_message_at: msg.created_at });
    toBottom();
  }
  // What goes on the wire: the send fields only (local bookkeeping starts with "_").
  function stripLocal(m) {
    const { sender_id: _s, created_at: _c, ...rest } = m;
    for (const k of Object.keys(rest)) if (k.startsWith("_")) delete rest[k];
    return rest;
  }
  function fail(local, err) {
    const p = pending.get(local.client_id);
    showError(err);
    if (!p) return;
    const el = messageEl(local, "failed");
    p.el.replaceWith(el);
    p.el = el;
    el.addEventListener("click", () => {
      const again = messageEl(local, "pending");
      el.replaceWith(again);
      p.el = again;
      deliver(local);
    }, { once: true });
  }

  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    input.style.height = "auto";
    send({ kind: "text", text });
  });

  toolsBtn.addEventListener("click", () => {
    const open = trayBox.childElementCount === 0;
    toolsBtn.setAttribute("aria-expanded", String(open));
    if (!open) return clear(trayBox);
    // Money messages are written by their feature; show the one we just made (the REST
    // answer carries it), or pick it up from the server.
    const shown = (msg) => {
      if (msg) {
        realtime.markSeen({ type: "message.new", conversation_id: Number(id), message: msg });
        place(msg);
        toBottom();
      } else fillGap().catch(() => {});
    };
    clear(trayBox, composerTools({ conversation: conv, send, shown, close: () => (clear(trayBox), toolsBtn.setAttribute("aria-expanded", "false")) }));
  });

  // Everything above is wired before the first await, so a person can type (and live
  // events land) while the history loads. First page: the newest messages.
  await loadOlder();
  toBottom();
  markRead();
  return () => cleanups.forEach((fn) => fn());
}

// The server's snippet is HTML-escaped text with <mark>…</mark> around matches. It is
// turned into text nodes and <mark> elements here, never parsed as HTML.
const ENTITIES = { "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"', "&#x27;": "'", "&#39;": "'" };
export function snippetNodes(snippet) {
  const parts = String(snippet || "").split(/(<mark>|<\/mark>)/);
  const out = [];
  let marked = false;
  for (const part of parts) {
    if (part === "<mark>") marked = true;
    else if (part === "</mark>") marked = false;
    else if (part) {
      const text = part.replace(/&(amp|lt|gt|quot|#x27|#39);/g, (m) => ENTITIES[m]);
      out.push(marked ? h("mark", {}, text) : text);
    }
  }
  return out;
}

function openSearch(conversationId, jump) {
  const q = h("input", { type: "search", name: "q", placeholder: "Search this chat", "aria-label": "Search text" });
  const out = h("ul", { class: "list search-results", "aria-label": "Results" });
  const form = h("form", { class: "row" }, h("div", { class: "grow" }, q), h("button", { type: "submit", class: "primary" }, "Search"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await api("GET", "/search/messages", { query: { q: q.value, conversation_id: conversationId } });
      const rows = r.results || [];
      clear(out, rows.length ? rows.map((hit) => {
        const msg = hit.message || hit;
        return h("li", {}, h("button", { type: "button", class: "item", onclick: () => (dlg.close(), jump(hit.seq ?? msg.seq)) }, h("span", { class: "body" }, h("span", { class: "top" }, h("span", { class: "name" }, nameOf(msg.sender_id)), h("span", { class: "time" }, timeShort(msg.created_at))), h("span", { class: "preview" }, hit.snippet ? snippetNodes(hit.snippet) : msg.text))));
      }) : h("li", { class: "empty" }, "No messages match."));
    } catch (err) {
      showError(err);
    }
  });
  const dlg = dialog("Search", h("div", {}, form, out), [h("button", { type: "button", onclick: () => dlg.close() }, "Close")]);
  q.focus();
}
