// Sign in with a phone number and a one-time code (POST /auth/otp, then POST /auth/token).
import { api, session } from "../api.js";
import { h, showError } from "../dom.js";
import { startSession, shell } from "../main.js";

function deviceName() {
  const ua = navigator.userAgent;
  const browser = /Firefox\//.test(ua) ? "Firefox" : /Edg\//.test(ua) ? "Edge" : /Chrom/.test(ua) ? "Chromium" : /Safari\//.test(ua) ? "Safari" : "Browser";
  return `${browser} (web)`;
}

export function render(view) {
  const dev = document.body.dataset.dev === "1";
  const phone = h("input", { id: "phone", name: "phone", type: "tel", inputmode: "tel", autocomplete: "tel", required: true, placeholder: "+1 415 555 0123" });
  const code = h("input", { id: "code", name: "code", inputmode: "numeric", autocomplete: "one-time-code", pattern: "\\d{6}", maxlength: "6", placeholder: "6-digit code" });
  const codeRow = h("div", { class: "field", hidden: true }, h("label", { for: "code" }, "Code"), code);
  const banner = h("div", { class: "devbanner", role: "note", hidden: !dev }, "Development server: the code is printed in the server console.");
  const submit = h("button", { type: "submit", class: "primary wide" }, "Send code");
  const hint = h("p", { class: "hint" }, "We text you a one-time code. New numbers get an account.");
  let sentTo = null;

  const form = h(
    "form",
    { class: "card login", novalidate: true },
    h("div", { class: "brand-mark", "aria-hidden": "true" }, "P"),
    h("h2", {}, "Welcome to Plaza"),
    hint,
    h("div", { class: "field" }, h("label", { for: "phone" }, "Phone number"), phone),
    codeRow,
    submit,
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    submit.disabled = true;
    try {
      if (!sentTo || phone.value.trim() !== sentTo.typed) {
        const r = await api("POST", "/auth/otp", { body: { phone: phone.value.trim() } });
        sentTo = { typed: phone.value.trim(), phone: r.phone };
        codeRow.hidden = false;
        submit.textContent = "Sign in";
        hint.textContent = `Code sent to ${r.phone}.`;
        if (r.debug_code) {
          banner.hidden = false;
          banner.replaceChildren(
            "Dev banner — your code is ",
            h("strong", { class: "debug-code" }, r.debug_code),
            " ",
            h("button", { type: "button", class: "link", onclick: () => { code.value = r.debug_code; code.focus(); } }, "Use it"),
          );
        }
        code.focus();
      } else {
        const r = await api("POST", "/auth/token", {
          body: { phone: sentTo.phone, code: code.value.trim(), device: deviceName(), platform: "web" },
        });
        session.set(r.token, r.user);
        startSession();
        const next = sessionStorage.getItem("plaza.after_login");
        sessionStorage.removeItem("plaza.after_login");
        shell.go(next || (r.user.display_name ? "#/chats" : "#/me?welcome"));
      }
    } catch (err) {
      showError(err);
    } finally {
      submit.disabled = false;
    }
  });

  view.append(banner, form);
  phone.focus();
}
