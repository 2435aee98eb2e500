// What we know about people: filled from every response that carries a public profile
// (members, contacts, senders), so a name can be shown without an extra round trip.
import { session } from "./api.js";

const byId = new Map();

export function remember(p) {
  if (!p || p.id === undefined || p.id === null) return p;
  const old = byId.get(String(p.id)) || {};
  byId.set(String(p.id), { ...old, ...p });
  return p;
}

export function person(id) {
  return byId.get(String(id)) || { id };
}

export function nameOf(id) {
  const me = session.user;
  if (me && String(me.id) === String(id)) return me.display_name || "Me";
  const p = byId.get(String(id));
  return (p && (p.display_name || p.name || p.username)) || `User ${id}`;
}

export function isMe(id) {
  const me = session.user;
  return !!me && String(me.id) === String(id);
}
