// The "+" tray under the composer: stickers, photo, voice, transfer, red packet.
import { api, newKey, session, ApiError, hasEndpoint } from "../api.js";
import { h, clear, dialog, showError, toast, parseMoney, money, pinInput, icon } from "../dom.js";
import { isMe } from "../people.js";
import { startWavRecording } from "../wav.js";

export function composerTools({ conversation, send, close, shown }) {
  const tray = h("div", { class: "tray", role: "group", "aria-label": "Send something else" });
  const tool = (glyph, label, fn) =>
    h("button", { type: "button", onclick: fn }, icon(glyph), label);

  const file = h("input", { type: "file", accept: "image/*", hidden: true, "aria-label": "Choose a photo" });
  file.addEventListener("change", async () => {
    const f = file.files[0];
    if (!f) return;
    close();
    await uploadAndSend(f, "image", send);
  });

  tray.append(
    tool("sticker", "Stickers", () => showStickers(tray, send, close)),
    tool("photo", "Photo", () => file.click()),
    file,
    tool("mic", "Voice", () => recordVoice(send, close)),
  );
  // Money tools appear when this server has them (red packets are their own feature).
  if (conversation.kind === "direct") {
    hasEndpoint("/transfers/0").then((ok) => ok && tray.append(tool("transfer", "Transfer", () => (close(), transferDialog(conversation, undefined, shown)))));
  }
  if (conversation.kind === "group" || conversation.kind === "direct") {
    hasEndpoint("/red-packets/0").then((ok) => ok && tray.append(tool("packet", "Red packet", () => (close(), redPacketDialog(conversation, shown)))));
  }
  return tray;
}

// Upload first (POST /uploads, multipart), then send a message that points at it.
export async function uploadAndSend(fileOrBlob, kind, send) {
  const form = new FormData();
  form.append("file", fileOrBlob, fileOrBlob.name || `${kind}.${kind === "voice" ? "webm" : "bin"}`);
  form.append("kind", kind);
  try {
    const up = await api("POST", "/uploads", { form });
    await send({ kind, text: "", payload: { upload_id: String(up.upload_id ?? up.token ?? up.id) } });
  } catch (e) {
    if (e.code === "endpoint_not_found") toast("Uploads are not available on this server yet.");
    else showError(e);
  }
}

async function showStickers(tray, send, close) {
  let packs;
  try {
    packs = await api("GET", "/me/sticker-packs");
  } catch (e) {
    if (e.code === "endpoint_not_found") return toast("The sticker store is not on this server yet.");
    return showError(e);
  }
  // Owned packs, plus the free published ones anybody may use.
  const owned = [...(packs.results || [])];
  try {
    const free = await api("GET", "/store/packs", { query: { sort: "price" } });
    for (const pk of free.results || []) if (!pk.price && !owned.some((o) => o.id === pk.id)) owned.push(pk);
  } catch {
    /* owned only */
  }
  const grid = h("div", { class: "tray stickers", role: "group", "aria-label": "My stickers" });
  for (const pack of owned) {
    const stickers = pack.stickers || (await api("GET", `/store/packs/${pack.id}`)).stickers || [];
    for (const s of stickers) {
      grid.append(
        h("button", { type: "button", class: "sticker-pick", "aria-label": `Send sticker ${s.emoji || s.id}`, onclick: () => (close(), send({ kind: "sticker", payload: { sticker_id: s.id }, _preview: s.thumbnail_url || s.image_url })) }, h("img", { src: s.thumbnail_url || s.image_url, alt: "" })),
      );
    }
  }
  if (!grid.children.length) grid.append(h("p", { class: "muted" }, "No stickers yet. ", h("a", { href: "#/store" }, "Visit the store"), "."));
  tray.replaceWith(grid);
}

function recordVoice(send, close) {
  if (!navigator.mediaDevices?.getUserMedia || !window.AudioContext) {
    toast("This browser cannot record audio.");
    return;
  }
  const status = h("p", { class: "muted", role: "status" }, "Press Record, then Stop and send (60 seconds at most).");
  const rec = h("button", { type: "button", class: "primary" }, "Record");
  let recording = null;
  const dlg = dialog("Voice message", status, [h("button", { type: "button", onclick: () => (recording?.stop(), dlg.close()) }, "Cancel"), rec]);
  rec.addEventListener("click", async () => {
    if (recording) {
      rec.disabled = true;
      const { blob } = await recording.stop();
      dlg.close();
      close();
      await uploadAndSend(new File([blob], "voice.wav", { type: "audio/wav" }), "voice", send);
      return;
    }
    try {
      recording = await startWavRecording();
      rec.textContent = "Stop and send";
      status.textContent = "Recording…";
    } catch (e) {
      showError(e);
    }
  });
}

export async function currencies() {
  try {
    const w = await api("GET", "/wallet");
    const list = (w.balances || []).map((b) => b.currency);
    return { list: list.length ? list : [w.default_currency || "USD"], wallet: w };
  } catch {
    return { list: ["USD"], wallet: null };
  }
}

function currencySelect(list) {
  return h("select", { name: "currency", "aria-label": "Currency" }, list.map((c) => h("option", { value: c }, c)));
}

function moneyForm(fields, submitLabel, onSubmit) {
  const err = h("p", { class: "error-text", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", { class: "money-form" }, fields, err, h("div", { class: "actions" }, submit));
  // One Idempotency-Key per intent: a double click or a retry after a timeout reuses it.
  let key = newKey();
  form.addEventListener("input", () => (key = newKey()));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    submit.disabled = true;
    try {
      await onSubmit(key);
    } catch (ex) {
      err.textContent = ex instanceof ApiError ? ex.human : String(ex.message || ex);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function transferDialog(conversation, toUserId, shown) {
  const { list } = await currencies();
  const peer = toUserId ?? (conversation.members || []).map((m) => m.user?.id ?? m.user_id ?? m.id).find((uid) => !isMe(uid)) ?? conversation.peer?.id;
  const amount = h("input", { name: "amount", inputmode: "decimal", required: true, placeholder: "0.00", "aria-label": "Amount" });
  const cur = currencySelect(list);
  const note = h("input", { name: "note", maxlength: "100", placeholder: "Note (optional)", "aria-label": "Note" });
  const pin = pinInput();
  let dlg;
  const form = moneyForm(
    [h("div", { class: "row" }, h("div", { class: "grow" }, amount), cur), h("div", { class: "field" }, note), h("div", { class: "field" }, h("label", {}, "Payment PIN"), pin)],
    "Transfer",
    async (key) => {
      const minor = parseMoney(amount.value, cur.value);
      if (!minor) throw new Error("Enter an amount, like 12.50.");
      const body = { to_user_id: peer, amount: minor, currency: cur.value, pin: pin.value, note: note.value };
      if (conversation) body.conversation_id = conversation.id;
      await api("POST", "/transfers", { body, idem: key });
      toast(`Sent ${money(minor, cur.value)} — it waits for them to accept`);
      shown && shown();
      dlg.close();
    },
  );
  dlg = dialog("Transfer", form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
  amount.focus();
}

export async function redPacketDialog(conversation, shown) {
  const { list } = await currencies();
  const total = h("input", { name: "total", inputmode: "decimal", required: true, placeholder: "Total, e.g. 8.88", "aria-label": "Total amount" });
  const cur = currencySelect(list);
  const count = h("input", { name: "count", type: "number", min: "1", max: "200", value: conversation.kind === "direct" ? "1" : "3", required: true, "aria-label": "Number of packets" });
  const split = h("select", { name: "split", "aria-label": "Split" }, h("option", { value: "random" }, "Random amounts (lucky draw)"), h("option", { value: "equal" }, "Equal amounts"));
  const greeting = h("input", { name: "greeting", maxlength: "60", value: "Best wishes!", "aria-label": "Greeting" });
  const pin = pinInput();
  let dlg;
  const form = moneyForm(
    [
      h("div", { class: "row" }, h("div", { class: "grow" }, total), cur),
      h("div", { class: "field" }, h("label", {}, "How many"), count),
      h("div", { class: "field" }, split),
      h("div", { class: "field" }, greeting),
      h("div", { class: "field" }, h("label", {}, "Payment PIN"), pin),
    ],
    "Send red packet",
    async (key) => {
      const minor = parseMoney(total.value, cur.value);
      if (!minor) throw new Error("Enter a total, like 8.88.");
      const r = await api("POST", `/conversations/${conversation.id}/red-packets`, {
        body: { total: minor, currency: cur.value, count: Number(count.value), split: split.value, greeting: greeting.value, pin: pin.value },
        idem: key,
      });
      toast("Red packet sent");
      dlg.close();
      shown && shown(r.message);
    },
  );
  dlg = dialog("Red packet", form, [h("button", { type: "button", onclick: () => dlg.close() }, "Cancel")]);
  total.focus();
  void clear;
  void session;
}
