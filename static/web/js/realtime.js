// The WebSocket half of the API, the way every client should hold it:
//  1. open /ws/, send {"type":"auth","token"} first, wait for {"type":"ready","cursor"};
//  2. remember the newest cursor (from ready, from sync, and from any event that has one);
//  3. when the socket drops, reconnect with backoff, and after the new `ready` call
//     GET /api/v1/sync?since=<cursor> until has_more is false;
//  4. deliver every event exactly once: live frames that arrive while the sync runs are
//     held back, and each event has a key so one seen live and again in sync counts once.

import { api, session } from "./api.js";

const CURSOR_KEY = "plaza.cursor";
const EPHEMERAL = new Set(["typing", "presence", "pong", "ready", "error", "message.ack"]);

export function eventKey(ev) {
  if (ev.event_id) return "id:" + ev.event_id;
  const c = ev.conversation_id ?? ev.message?.conversation_id ?? "";
  switch (ev.type) {
    case "message.new":
      return `m:${c}:${ev.message?.seq ?? ev.seq}`;
    case "message.recalled":
      return `r:${c}:${ev.seq ?? ev.message?.seq}`;
    case "message.edited":
      // Services edit payloads too (a transfer accepted): the whole message is the key.
      return `e:${c}:${JSON.stringify(ev.message ?? ev)}`;
    case "receipt.read":
      return `rr:${c}:${ev.user_id}:${ev.seq}`;
    default: {
      const { cursor: _c, ...rest } = ev;
      return "j:" + JSON.stringify(rest);
    }
  }
}

class Realtime {
  constructor() {
    this.ws = null;
    this.status = "offline"; // offline | connecting | syncing | online
    this.handlers = new Map();
    this.seen = new Set();
    this.seenOrder = [];
    this.buffer = null;
    this.attempt = 0;
    this.timer = null;
    this.pingTimer = null;
    this.pending = new Map(); // client_id -> {resolve, reject, timer}
    this.userId = null;
    this.wanted = false;
    addEventListener("online", () => this.wanted && this.status === "offline" && this.connectNow());
  }

  get cursor() {
    return localStorage.getItem(CURSOR_KEY);
  }
  set cursor(v) {
    if (v !== undefined && v !== null) localStorage.setItem(CURSOR_KEY, String(v));
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  emit(type, payload) {
    for (const key of [type, "*"]) for (const fn of this.handlers.get(key) || []) {
      try {
        fn(payload);
      } catch (e) {
        console.error("handler for", type, "failed", e);
      }
    }
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit("status", s);
  }

  start() {
    this.wanted = true;
    // A new page starts from fresh REST reads, so it does not replay an old cursor.
    localStorage.removeItem(CURSOR_KEY);
    this.connectNow();
  }

  stop() {
    this.wanted = false;
    clearTimeout(this.timer);
    clearInterval(this.pingTimer);
    if (this.ws) this.ws.close(1000);
    this.ws = null;
    this.setStatus("offline");
  }

  connectNow() {
    clearTimeout(this.timer);
    if (!session.token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/ws/`);
    this.ws = ws;
    this.setStatus("connecting");
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: session.token }));
    ws.onmessage = (m) => {
      let ev;
      try {
        ev = JSON.parse(m.data);
      } catch {
        return;
      }
      this.onFrame(ws, ev);
    };
    ws.onclose = (e) => {
      if (this.ws !== ws) return;
      clearInterval(this.pingTimer);
      this.ws = null;
      this.setStatus("offline");
      for (const [id, p] of this.pending) {
        clearTimeout(p.timer);
        p.reject(new Error("socket closed"));
        this.pending.delete(id);
      }
      if (e.code === 4401) {
        session.clear();
        return;
      }
      if (this.wanted) this.scheduleReconnect();
    };
  }

  scheduleReconnect() {
    // Exponential backoff with jitter, capped, so a fleet of clients does not stampede.
    const base = Math.min(15000, 500 * 2 ** this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => this.connectNow(), base / 2 + Math.random() * (base / 2));
  }

  // Test and debugging hook: drop the socket as a flaky network would.
  dropForTest() {
    if (this.ws) this.ws.close(4000, "test drop");
  }

  async onFrame(ws, ev) {
    if (ev.type === "ready") {
      this.attempt = 0;
      this.userId = ev.user_id;
      const since = this.cursor;
      this.pingTimer = setInterval(() => this.send({ type: "ping", ts: Date.now() }), 25000);
      if (since) {
        this.setStatus("syncing");
        this.buffer = [];
        try {
          await this.catchUp(since);
        } catch (e) {
          console.warn("sync failed; reconnecting", e);
          this.buffer = null;
          ws.close(4000, "sync failed");
          return;
        }
        const held = this.buffer;
        this.buffer = null;
        for (const x of held) this.deliver(x);
      } else if (ev.cursor) {
        this.cursor = ev.cursor;
      } else {
        // A server whose ready frame has no cursor: ask sync for "now".
        try {
          this.cursor = (await api("GET", "/sync")).cursor;
        } catch {
          /* no sync on this server: live events only */
        }
      }
      this.setStatus("online");
      this.emit("ready", ev);
      return;
    }
    if (ev.type === "message.ack" && this.pending.has(ev.client_id)) {
      const p = this.pending.get(ev.client_id);
      clearTimeout(p.timer);
      this.pending.delete(ev.client_id);
      p.resolve(ev);
    }
    if (ev.type === "error" && ev.ref && this.pending.has(ev.ref)) {
      const p = this.pending.get(ev.ref);
      clearTimeout(p.timer);
      this.pending.delete(ev.ref);
      p.reject(Object.assign(new Error(ev.error?.message || "error"), { code: ev.error?.code, ws: true }));
    }
    if (this.buffer) this.buffer.push(ev);
    else this.deliver(ev);
  }

  async catchUp(since) {
    let cursor = since;
    for (let page = 0; page < 200; page++) {
      const r = await api("GET", "/sync", { query: { since: cursor } });
      for (const ev of r.events || []) this.deliver(ev);
      cursor = r.cursor;
      this.cursor = cursor;
      if (!r.has_more) break;
    }
    this.emit("synced", { since, cursor });
  }

  deliver(ev) {
    if (ev.cursor !== undefined && ev.type !== "ready") this.cursor = ev.cursor;
    if (!EPHEMERAL.has(ev.type)) {
      const key = eventKey(ev);
      if (this.seen.has(key)) return;
      this.seen.add(key);
      this.seenOrder.push(key);
      if (this.seenOrder.length > 5000) this.seen.delete(this.seenOrder.shift());
    }
    this.emit(ev.type, ev);
  }

  // Mark an event as already known (e.g. a message we just got back from a REST send).
  markSeen(ev) {
    const key = eventKey(ev);
    if (!this.seen.has(key)) {
      this.seen.add(key);
      this.seenOrder.push(key);
    }
  }

  send(frame) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN || this.status === "connecting") return false;
    this.ws.send(JSON.stringify(frame));
    return true;
  }

  // message.send over the socket; resolves with the ack. Rejects when offline or slow,
  // and the caller retries over REST with the same client_id (the send is idempotent).
  request(frame, timeoutMs = 8000) {
    return new Promise((resolve, reject) => {
      if (this.status !== "online" || !this.send(frame)) {
        reject(new Error("offline"));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(frame.client_id);
        reject(new Error("timeout"));
      }, timeoutMs);
      this.pending.set(frame.client_id, { resolve, reject, timer });
    });
  }
}

export const realtime = new Realtime();
