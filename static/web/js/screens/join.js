// Join a group by an invite: /join/<token> from a QR code, a pasted link, or the camera
// (BarcodeDetector where the browser has it).
import { api } from "../api.js";
import { h, clear, showError, toast, avatar } from "../dom.js";
import * as chats from "../chatstore.js";

export function inviteTokenFrom(text) {
  const t = String(text).trim();
  const m = t.match(/\/join\/([A-Za-z0-9_-]+)/);
  return m ? m[1] : /^[A-Za-z0-9_-]{6,128}$/.test(t) ? t : null;
}

// Where a scanned code should go: a group invite, a merchant checkout or an add-me code.
export function routeForScan(text) {
  const t = String(text).trim();
  let m;
  if ((m = t.match(/\/join\/([A-Za-z0-9_-]+)/))) return `#/join/${m[1]}`;
  if ((m = t.match(/\/pay\/([A-Za-z0-9_.~-]+)/))) return `#/pay/${m[1]}`;
  if ((m = t.match(/\/(?:add|u)\/([A-Za-z0-9_-]+)/))) return `#/add/${m[1]}`;
  return null;
}

export async function scanner(onText) {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices?.getUserMedia) return null;
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  const video = h("video", { class: "scan", playsinline: true, muted: true, "aria-label": "Camera preview" });
  let stream;
  let stopped = false;
  const stop = () => {
    stopped = true;
    stream?.getTracks().forEach((t) => t.stop());
  };
  const start = async () => {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    video.srcObject = stream;
    await video.play();
    const tick = async () => {
      if (stopped) return;
      try {
        const codes = await detector.detect(video);
        if (codes.length) {
          stop();
          onText(codes[0].rawValue);
          return;
        }
      } catch {
        /* frame not ready */
      }
      setTimeout(tick, 250);
    };
    tick();
  };
  return { video, start, stop };
}

export async function render(view, [token]) {
  if (!token) return renderPaste(view);
  const card = h("div", { class: "card join" }, h("p", { class: "muted" }, "Checking the invite…"));
  view.append(card);
  let preview;
  try {
    preview = await api("GET", `/invites/${encodeURIComponent(token)}`);
  } catch (e) {
    clear(card, h("p", {}, e.status === 404 ? "This invite does not exist or was revoked." : e.human));
    return;
  }
  const title = preview.title || "Group";
  const join = h("button", { type: "button", class: "primary wide" }, preview.is_member ? "Open the chat" : preview.requires_approval ? "Ask to join" : "Join group");
  const note = h("p", { class: "hint", role: "status" });
  clear(
    card,
    h("div", { class: "profile-head" }, avatar(title, preview.avatar_url, "big"), h("div", {}, h("strong", { class: "group-title" }, title), h("div", { class: "muted" }, `${preview.member_count} members`))),
    preview.inviter ? h("p", { class: "muted" }, `Invited by ${preview.inviter.display_name}`) : null,
    preview.requires_approval && !preview.is_member ? h("p", { class: "hint" }, "An admin approves new members of this group.") : null,
    join,
    note,
  );
  join.addEventListener("click", async () => {
    join.disabled = true;
    try {
      const r = preview.is_member ? { status: "already_member", conversation_id: preview.conversation_id } : await api("POST", `/invites/${encodeURIComponent(token)}/join`);
      if (r.status === "pending_approval") {
        note.textContent = "Request sent. You will see the group in Chats once an admin approves.";
        return;
      }
      await chats.loadConversations(true);
      location.hash = `#/c/${r.conversation_id}`;
    } catch (e) {
      join.disabled = false;
      showError(e);
    }
  });
}

async function renderPaste(view) {
  const input = h("input", { name: "invite", placeholder: "Paste an invite link", "aria-label": "Invite link" });
  const form = h("form", { class: "card" }, h("h3", {}, "Paste an invite link"), h("div", { class: "row" }, h("div", { class: "grow" }, input), h("button", { type: "submit", class: "primary" }, "Open")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const route = routeForScan(input.value) || (inviteTokenFrom(input.value) && `#/join/${inviteTokenFrom(input.value)}`);
    if (!route) return toast("That is not a Plaza invite link.");
    location.hash = route;
  });
  view.append(form);
  const scan = await scanner((text) => {
    const route = routeForScan(text);
    if (route) location.hash = route;
    else toast("That QR code is not a Plaza code.");
  });
  if (scan) {
    const btn = h("button", { type: "button", class: "wide" }, "Scan a QR code with the camera");
    const box = h("div", { class: "card" }, btn);
    btn.addEventListener("click", async () => {
      btn.replaceWith(scan.video);
      try {
        await scan.start();
      } catch (e) {
        showError(e);
      }
    });
    view.append(box);
    return () => scan.stop();
  }
  view.append(h("p", { class: "hint card" }, "This browser cannot scan QR codes; paste the link instead."));
}
