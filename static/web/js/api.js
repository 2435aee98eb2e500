// The REST half of the public API: bearer token, JSON in and out, one error shape.
// A mobile app does the same (docs/CLIENT.md): store the token in secure storage,
// send it as `Authorization: Bearer`, and read errors as {"error":{code,message,fields}}.

const TOKEN_KEY = "plaza.token";
const USER_KEY = "plaza.user";

export class ApiError extends Error {
  constructor(status, body, retryAfter) {
    const err = (body && body.error) || {};
    super(err.message || `HTTP ${status}`);
    this.status = status;
    this.code = err.code || (status === 0 ? "network_error" : "http_" + status);
    this.fields = err.fields || {};
    this.body = body;
    this.retryAfter = retryAfter ? Number(retryAfter) : null;
  }
  // One line a person can read: the message plus the first field problem, if any.
  get human() {
    const first = Object.entries(this.fields || {})[0];
    if (first) {
      const [field, problems] = first;
      const text = Array.isArray(problems) ? problems.join(" ") : String(problems);
      return `${this.message} (${field}: ${text})`;
    }
    if (this.status === 429 && this.retryAfter) return `${this.message} Try again in ${this.retryAfter}s.`;
    return this.message;
  }
}

const listeners = new Set();
export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  get user() {
    try {
      return JSON.parse(localStorage.getItem(USER_KEY) || "null");
    } catch {
      return null;
    }
  },
  set(token, user) {
    localStorage.setItem(TOKEN_KEY, token);
    this.setUser(user);
  },
  setUser(user) {
    localStorage.setItem(USER_KEY, JSON.stringify(user));
  },
  clear() {
    const had = !!this.token;
    for (const k of Object.keys(localStorage)) if (k.startsWith("plaza.")) localStorage.removeItem(k);
    if (had) for (const fn of listeners) fn();
  },
  onLogout(fn) {
    listeners.add(fn);
  },
};

// A fresh random key: client_id for messages, Idempotency-Key for money POSTs.
// Generate it once per user intent and reuse it on every retry of that intent.
export function newKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function withQuery(path, query) {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}${path.includes("?") ? "&" : "?"}${s}` : path;
}

/**
 * api("POST", "/transfers", {body, idem}) -> parsed JSON (or null for 204).
 * `idem` sets the Idempotency-Key header; `form` sends multipart (uploads).
 */
export async function api(method, path, { body, form, query, idem, signal } = {}) {
  const url = withQuery(path.startsWith("/api/") ? path : "/api/v1" + path, query);
  const headers = { Accept: "application/json" };
  if (session.token) headers.Authorization = `Bearer ${session.token}`;
  if (idem) headers["Idempotency-Key"] = idem;
  let payload;
  if (form) payload = form;
  else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, { method, headers, body: payload, signal, credentials: "omit" });
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(0, { error: { code: "network_error", message: "No connection to Plaza." } });
  }
  if (res.status === 204) return null;
  let data = null;
  const type = res.headers.get("Content-Type") || "";
  if (type.includes("json")) data = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && session.token) session.clear();
    throw new ApiError(res.status, data, res.headers.get("Retry-After"));
  }
  return data;
}

// Whether the server has an endpoint at all (404 endpoint_not_found = not built yet), so
// the client shows only what this server can do. Asked once per page load.
const probes = new Map();
export function hasEndpoint(path) {
  if (!probes.has(path)) {
    probes.set(
      path,
      api("GET", path).then(
        () => true,
        (e) => !(e instanceof ApiError && e.code === "endpoint_not_found"),
      ),
    );
  }
  return probes.get(path);
}
