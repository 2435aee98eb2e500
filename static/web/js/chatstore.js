// The chat list as the client holds it: loaded once over REST, then kept current by
// socket/sync events. Reducers are idempotent by `seq`, so a message seen both in the
// REST list and as an event is counted once.
import { api, session } from "./api.js";
import { realtime } from "./realtime.js";
import { remember, isMe, nameOf } from "./people.js";

const convs = new Map();
const subs = new Set();
let loaded = null;
let openId = null;
export let available = true;

function notify() {
  for (const fn of subs) fn();
}
export function subscribe(fn) {
  subs.add(fn);
  return () => subs.delete(fn);
}

function absorb(c) {
  for (const m of c.members || []) remember(m.user || m);
  if (c.peer) remember(c.peer);
  const old = convs.get(String(c.id)) || {};
  const merged = { ...old, ...c };
  // Keep the newer last message if REST raced a live event.
  if (old.last_message && c.last_message && (old.last_message.seq || 0) > (c.last_message.seq || 0)) {
    merged.last_message = old.last_message;
    merged.unread_count = old.unread_count;
  }
  convs.set(String(c.id), merged);
  return merged;
}

export async function loadConversations(force = false) {
  if (loaded && !force) return loaded;
  loaded = (async () => {
    let next = null;
    let pages = 0;
    try {
      do {
        const r = await api("GET", "/conversations", { query: { cursor: next } });
        for (const c of r.results || []) absorb(c);
        next = r.next;
      } while (next && ++pages < 20);
      available = true;
    } catch (e) {
      if (e.code === "endpoint_not_found") available = false;
      else {
        loaded = null;
        throw e;
      }
    }
    notify();
  })();
  return loaded;
}

export function conversations() {
  return [...convs.values()].sort((a, b) => {
    if (!!b.pinned - !!a.pinned) return !!b.pinned - !!a.pinned;
    const ta = a.last_message?.created_at || a.last_message_at || a.created_at || "";
    const tb = b.last_message?.created_at || b.last_message_at || b.created_at || "";
    return tb.localeCompare(ta);
  });
}

export function conversation(id) {
  return convs.get(String(id));
}

export async function fetchConversation(id) {
  const c = await api("GET", `/conversations/${id}`);
  notify();
  return absorb(c);
}

export function upsert(c) {
  absorb(c);
  notify();
}

export function totalUnread() {
  let n = 0;
  for (const c of convs.values()) if (!c.muted) n += c.unread_count || 0;
  return n;
}

export function titleOf(c) {
  if (!c) return "Chat";
  if (c.title) return c.title;
  if (c.peer) return c.peer.display_name || nameOf(c.peer.id);
  const others = (c.members || []).map((m) => m.user || m).filter((u) => !isMe(u.id ?? u.user_id));
  if (others.length) return others.map((u) => u.display_name || nameOf(u.id ?? u.user_id)).join(", ");
  return c.kind === "group" ? "Group" : "Chat";
}

export function previewOf(m) {
  if (!m) return "";
  if (m.recalled || m.recalled_at) return "Message recalled";
  const who = m.sender_id && !isMe(m.sender_id) && m.conversation_kind === "group" ? nameOf(m.sender_id) + ": " : "";
  const label = {
    image: "[Photo]", voice: "[Voice]", file: "[File]", sticker: "[Sticker]", location: "[Location]",
    transfer: "[Transfer]", red_packet: "[Red packet]", offer: "[Offer]",
  }[m.kind];
  return who + (label ? `${label} ${m.text || ""}`.trim() : m.text || "");
}

// Which conversation is on screen: its new messages are read, not unread.
export function setOpen(id) {
  openId = id === null ? null : String(id);
  if (openId && convs.get(openId)) {
    convs.get(openId).unread_count = 0;
    notify();
  }
}

realtime.on("message.new", (ev) => {
  const id = String(ev.conversation_id ?? ev.message?.conversation_id);
  const m = ev.message || ev;
  const c = convs.get(id);
  if (!c) {
    // A conversation we have not seen yet (someone started a chat with us).
    fetchConversation(id)
      .then((fresh) => {
        if (!fresh.last_message || (fresh.last_message.seq || 0) < (m.seq || 0)) {
          fresh.last_message = m;
          fresh.last_message_at = m.created_at;
          notify();
        }
      })
      .catch(() => {});
    return;
  }
  if (c.last_message && (c.last_message.seq || 0) >= (m.seq || 0)) return;
  c.last_message = m;
  c.last_message_at = m.created_at;
  if (!isMe(m.sender_id) && openId !== id && m.kind !== "system") c.unread_count = (c.unread_count || 0) + 1;
  notify();
});
realtime.on("message.recalled", (ev) => {
  const c = convs.get(String(ev.conversation_id));
  const seq = ev.seq ?? ev.message?.seq;
  if (c && c.last_message && c.last_message.seq === seq) {
    c.last_message = { ...c.last_message, recalled: true, text: "" };
    notify();
  }
});
realtime.on("receipt.read", (ev) => {
  const c = convs.get(String(ev.conversation_id));
  if (c && isMe(ev.user_id)) {
    // I read it on another device.
    const last = c.last_message?.seq || 0;
    c.unread_count = Math.max(0, Math.min(c.unread_count || 0, last - ev.seq));
    notify();
  }
});
for (const t of ["conversation.updated", "member.joined", "member.left"]) {
  realtime.on(t, (ev) => {
    const id = ev.conversation_id ?? ev.conversation?.id;
    if (ev.conversation) upsert(ev.conversation);
    else if (id !== undefined) fetchConversation(id).catch(() => {});
  });
}
// After a reconnect the sync replays what we missed; a full reload is the simple safe net.
realtime.on("synced", () => {
  if (loaded) loadConversations(true).catch(() => {});
});
session.onLogout(() => {
  convs.clear();
  loaded = null;
});
