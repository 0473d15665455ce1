// Log in (cookie session), or register as a resident with an invite code.
import { api, ApiError } from "./api.js";
import { h, mount } from "./dom.js";
import { getLang, LANGS, setLang, t } from "./i18n.js";
import { field, hintOnMismatch } from "./ui.js";

export function render(root, { start, message }) {
  // An invite link (/?invite=CODE) opens the sign-up form with the code filled in.
  const invite = new URLSearchParams(location.search).get("invite");
  if (invite && !message) showRegister(root, start, invite);
  else showLogin(root, start, message);
}

function brand() {
  return h("div", { class: "brand" },
    h("img", { src: "/static/icon.svg", alt: "" }),
    h("h1", { text: t("app.name") }),
    h("p", { class: "muted", text: t("login.tagline") }));
}

function langPicker() {
  const select = h("select", { ariaLabel: t("settings.language") },
    LANGS.map((l) => h("option", { value: l, text: t(`lang.${l}`), selected: l === getLang() })));
  select.addEventListener("change", () => setLang(select.value));
  return h("div", { class: "lang" }, h("div", { style: { width: "200px" } }, select));
}

function showLogin(root, start, message) {
  const user = h("input", { type: "text", name: "username", autocomplete: "username", autocapitalize: "none", spellcheck: false, required: true });
  const pass = h("input", { type: "password", name: "password", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error-text", role: "alert", text: message || "" });
  const submit = h("button", { class: "btn btn-primary btn-block btn-lg", type: "submit", text: t("login.submit") });
  const form = h("form", { class: "card", noValidate: false },
    h("h2", { text: t("login.title"), style: { marginBottom: "14px" } }),
    field(t("login.username"), user),
    field(t("login.password"), pass),
    error,
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      await api("/api/v1/auth/login", { method: "POST", json: { username: user.value.trim(), password: pass.value }, quiet401: true });
      let me;
      try {
        me = await api("/api/v1/auth/me", { quiet401: true });
      } catch (err) {
        // Logged in, yet the browser did not keep the cookie: a Secure cookie over plain http.
        throw new ApiError(401, err.status === 401 ? t("login.cookie_blocked") : err.message);
      }
      await start(me);
    } catch (err) {
      error.textContent = err.status === 401 && err.message !== t("login.cookie_blocked") ? t("login.wrong") : err.message;
      submit.disabled = false;
      pass.select();
    }
  });
  const toRegister = h("button", { class: "btn btn-ghost btn-block", type: "button", text: t("register.link"), onclick: () => showRegister(root, start) });
  mount(root, h("div", { class: "login" }, brand(), form, toRegister, langPicker()));
  user.focus();
}

function showRegister(root, start, invite = "") {
  const code = h("input", { type: "text", autocomplete: "one-time-code", autocapitalize: "characters", required: true, value: invite });
  const name = h("input", { type: "text", autocomplete: "name" });
  // HTML patterns are compiled with the v flag: "-" in a class must be escaped, or the browser
  // drops the pattern and never checks it.
  const user = h("input", { type: "text", autocomplete: "username", autocapitalize: "none", spellcheck: false, required: true, pattern: "[a-z0-9._\\-]{3,64}", title: t("register.username_hint") });
  hintOnMismatch(user, "register.username_invalid");
  const pass = h("input", { type: "password", autocomplete: "new-password", required: true, minLength: 10 });
  const error = h("p", { class: "error-text", role: "alert" });
  const submit = h("button", { class: "btn btn-primary btn-block btn-lg", type: "submit", text: t("register.submit") });
  const form = h("form", { class: "card" },
    h("h2", { text: t("register.title"), style: { marginBottom: "14px" } }),
    field(t("register.code"), code, t("register.code_hint")),
    field(t("register.name"), name),
    field(t("login.username"), user, t("register.username_hint")),
    field(t("login.password"), pass, t("register.password_hint")),
    error,
    submit);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    const json = { invite_code: code.value.trim(), username: user.value.trim(), password: pass.value };
    if (name.value.trim()) json.display_name = name.value.trim();
    try {
      await api("/api/v1/auth/register", { method: "POST", json, quiet401: true });
      await api("/api/v1/auth/login", { method: "POST", json: { username: json.username, password: json.password }, quiet401: true });
      if (invite) history.replaceState(null, "", "/"); // the code is used: a later log-out shows the log-in form
      await start(await api("/api/v1/auth/me", { quiet401: true }));
    } catch (err) {
      error.textContent = err.message;
      submit.disabled = false;
    }
  });
  const back = h("button", { class: "btn btn-ghost btn-block", type: "button", text: t("register.back"), onclick: () => showLogin(root, start) });
  mount(root, h("div", { class: "login" }, brand(), form, back, langPicker()));
  (invite ? name : code).focus();
}
