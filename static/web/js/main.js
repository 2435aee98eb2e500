// Boot: the shell (top bar, view, tab bar), the router, the session and the socket.
import { session } from "./api.js";
import { realtime } from "./realtime.js";
import { h, clear } from "./dom.js";
import { routes } from "./routes.js";

const app = document.getElementById("app");
const topTitle = h("h1", { id: "title" }, "Plaza");
const backBtn = h("button", { class: "back", type: "button", "aria-label": "Back", hidden: true, onclick: () => history.back() }, "‹");
const topActions = h("div", { class: "top-actions" });
const status = h("span", { class: "net", role: "status", "aria-label": "Connection", title: "Connection" });
const view = h("main", { id: "view", tabindex: "-1" });
const tabs = [
  ["#/chats", "Chats", "chats"],
  ["#/contacts", "Contacts", "contacts"],
  ["#/wallet", "Wallet", "wallet"],
  ["#/discover", "Discover", "discover"],
  ["#/me", "Me", "me"],
];
const tabbar = h(
  "nav",
  { class: "tabbar", "aria-label": "Sections" },
  tabs.map(([href, label, key]) => h("a", { href, dataset: { tab: key } }, h("span", { class: `ti ti-${key}`, "aria-hidden": "true" }), label)),
);
const badge = h("span", { class: "tab-badge", hidden: true });
tabbar.querySelector('[data-tab="chats"]').append(badge);

clear(
  app,
  h("header", { class: "topbar" }, backBtn, topTitle, topActions, status),
  view,
  tabbar,
);

export const shell = {
  setTitle(text, { back = false } = {}) {
    topTitle.textContent = text;
    document.title = text === "Plaza" ? "Plaza" : `${text} · Plaza`;
    backBtn.hidden = !back;
  },
  setActions(...nodes) {
    clear(topActions, ...nodes);
  },
  setUnread(n) {
    badge.hidden = !n;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.setAttribute("aria-label", `${n} unread`);
  },
  go(hash) {
    if (location.hash === hash) render();
    else location.hash = hash;
  },
};

function showStatus(s) {
  status.dataset.state = s;
  status.textContent = { online: "", connecting: "Connecting…", syncing: "Syncing…", offline: "Offline" }[s];
}
realtime.on("status", showStatus);
showStatus("connecting");

// Deep links a QR code points at (/join/<token>, /pay/<token>, /u/<code>) open the
// matching screen; the rest of the client lives behind the hash.
const deep = location.pathname.match(/^\/(join|pay|add|u)\/([^/]+)\/?$/);
if (deep) {
  history.replaceState(null, "", `/#/${deep[1]}/${deep[2]}`);
}

let cleanup = null;
let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  if (cleanup) {
    try {
      cleanup();
    } catch (e) {
      console.error(e);
    }
    cleanup = null;
  }
  shell.setActions();
  let hash = location.hash || "#/chats";
  if (!session.token) {
    if (!hash.startsWith("#/login")) {
      if (hash !== "#/chats") sessionStorage.setItem("plaza.after_login", hash);
      hash = "#/login";
    }
  } else if (hash.startsWith("#/login")) {
    hash = sessionStorage.getItem("plaza.after_login") || "#/chats";
    sessionStorage.removeItem("plaza.after_login");
    history.replaceState(null, "", hash);
  }
  const path = hash.slice(1).split("?")[0];
  document.body.dataset.authed = session.token ? "1" : "0";
  for (const a of tabbar.querySelectorAll("a")) {
    const on = path.startsWith("/" + a.dataset.tab) || (a.dataset.tab === "chats" && path.startsWith("/c/"));
    a.classList.toggle("on", on);
    if (on) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, screen, opts] of routes) {
    const m = path.match(re);
    if (!m) continue;
    document.body.dataset.screen = opts?.name || "";
    view.replaceChildren();
    view.className = opts?.className || "";
    shell.setTitle(opts?.title || "Plaza", { back: !!opts?.back });
    let mod;
    try {
      mod = await screen();
    } catch (e) {
      console.warn("screen not available", e);
      view.append(h("p", { class: "empty" }, "This part of Plaza is not in the web client yet."));
      return;
    }
    try {
      if (seq !== renderSeq) return;
      cleanup = (await mod.render(view, m.slice(1).map((x) => (x === undefined ? undefined : decodeURIComponent(x))), shell)) || null;
    } catch (e) {
      console.error(e);
      view.append(h("p", { class: "empty" }, "Something went wrong: " + (e.human || e.message)));
    }
    return;
  }
  location.hash = "#/chats";
}

addEventListener("hashchange", render);
session.onLogout(() => {
  realtime.stop();
  location.hash = "#/login";
  render();
});

export function startSession() {
  realtime.start();
  import("./unread.js").then((m) => m.startUnread(shell));
}

// Development servers expose the socket to the console (and to the browser tests, which
// drop it to prove that reconnect + sync delivers every event exactly once).
if (document.body.dataset.dev === "1") window.__plaza = { realtime };

if (session.token) startSession();
render();
