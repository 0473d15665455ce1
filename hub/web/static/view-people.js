// Staff accounts: the commune admin makes the heads and deputies of an area, a head the deputies
// of their own; both can disable one or give it a new password.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { t } from "./i18n.js";
import { copyAndTell } from "./share.js";
import { confirmBox, empty, fail, field, hintOnMismatch, pageHead, sheet, toast } from "./ui.js";

// No 0/O, 1/l/I: the password is read off one phone and typed into another.
const ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";

/** A random 14-character password (about 80 bits), from the browser's secure generator. */
export function newPassword(length = 14) {
  const bytes = crypto.getRandomValues(new Uint32Array(length));
  return Array.from(bytes, (b) => ALPHABET[b % ALPHABET.length]).join("");
}

/** The one moment a password is visible: the hub keeps only its hash. */
function showPassword(title, user, password) {
  const name = user.display_name || user.username;
  sheet(title, (body) => body.append(
    h("p", { class: "muted small", text: t("people.password_once", { name }) }),
    h("div", { class: "field" }, h("span", { class: "label", text: t("people.username") }),
      h("code", { class: "secret", dataset: { shownUsername: "" }, text: user.username })),
    h("div", { class: "field" }, h("span", { class: "label", text: t("people.password") }),
      h("code", { class: "secret", dataset: { shownPassword: "" }, text: password })),
    h("div", { class: "sheet-actions" },
      h("button", { class: "btn btn-primary", type: "button", text: t("share.copy"), onclick: () => copyAndTell(password, "share.copied_password") }))));
}

export function render(root, { store, me, areas }) {
  const admin = me.role === "admin";
  const areaName = (store.area && store.area.name) || store.code;
  const list = h("div");
  const add = h("button", { class: "btn btn-primary btn-block", type: "button", text: t("people.add"), onclick: openForm });
  mount(root, pageHead(t("title.people"), t(admin ? "people.subtitle_admin" : "people.subtitle_head", { area: areaName })),
    h("section", { class: "card" }, add), list);

  /** Whom the caller may change: the admin anyone but themselves, a head the deputies. */
  const manages = (user) => user.id !== me.id && (admin || user.role === "deputy");

  function openForm() {
    const username = h("input", { type: "text", autocomplete: "off", autocapitalize: "none", spellcheck: false, required: true, pattern: "[a-z0-9._\\-]{3,64}", title: t("people.username_hint") });
    hintOnMismatch(username, "people.username_invalid");
    const name = h("input", { type: "text", autocomplete: "off" });
    const roles = admin ? ["head", "deputy"] : ["deputy"];
    const role = h("select", { disabled: roles.length === 1 }, roles.map((r) => h("option", { value: r, text: t(`role.${r}`) })));
    const area = admin ? h("select", {}, areas.map((a) => h("option", { value: a.code, text: a.name, selected: a.code === store.code }))) : null;
    const password = h("input", { type: "text", autocomplete: "new-password", autocapitalize: "none", spellcheck: false, minLength: 10 });
    const submit = h("button", { class: "btn btn-primary btn-block", type: "submit", text: t("people.create") });
    sheet(t("people.add_title"), (body, close) => {
      const form = h("form", {},
        field(t("people.username"), username, t("people.username_hint")),
        field(t("people.name"), name),
        field(t("people.role"), role),
        area ? field(t("people.area"), area) : null,
        field(t("people.password"), password, t("people.password_hint")),
        submit);
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        submit.disabled = true;
        const chosen = password.value;
        const json = { username: username.value.trim(), role: role.value, password: chosen || newPassword() };
        if (name.value.trim()) json.display_name = name.value.trim();
        if (area) json.area_code = area.value;
        try {
          const user = await api("/api/v1/users", { method: "POST", json });
          close();
          if (chosen) toast(t("people.created_title"), "ok");
          else showPassword(t("people.created_title"), user, json.password);
          load();
        } catch (err) {
          fail(err);
          submit.disabled = false;
        }
      });
      body.append(form);
    });
    username.focus();
  }

  async function resetPassword(user) {
    const who = user.display_name || user.username;
    const ok = await confirmBox({ title: t("people.reset"), message: t("people.reset_confirm", { name: who }), confirm: t("people.reset") });
    if (!ok) return;
    const password = newPassword();
    try {
      await api(`/api/v1/users/${user.id}`, { method: "PATCH", json: { password } });
      showPassword(t("people.reset_title"), user, password);
    } catch (err) {
      fail(err);
    }
  }

  async function setActive(user, active) {
    const who = user.display_name || user.username;
    if (!active) {
      const ok = await confirmBox({ title: t("people.disable"), message: t("people.disable_confirm", { name: who }), confirm: t("people.disable"), danger: true });
      if (!ok) return;
    }
    try {
      await api(`/api/v1/users/${user.id}`, { method: "PATCH", json: { active } });
      toast(t(active ? "people.enabled_done" : "people.disabled_done", { name: who }), "ok");
      load();
    } catch (err) {
      fail(err);
    }
  }

  function line(user) {
    const mine = manages(user);
    return h("li", { class: "item stacked", dataset: { person: user.username, active: String(user.active) } },
      h("span", { class: "body" },
        h("span", { class: "title", text: user.display_name || user.username }),
        h("span", { class: "meta", text: t("people.login", { username: user.username }) }),
        h("span", { class: "pills" },
          h("span", { class: "pill info", text: t(`role.${user.role}`) }),
          user.id === me.id ? h("span", { class: "pill", text: t("people.you") })
            : h("span", { class: `pill ${user.active ? "ok" : "bad"}`, text: t(user.active ? "people.active" : "people.disabled") }))),
      mine ? h("span", { class: "item-actions" },
        h("button", { class: "btn btn-sm", type: "button", text: t("people.reset"), onclick: () => resetPassword(user) }),
        h("button", {
          class: `btn btn-sm${user.active ? " btn-danger-outline" : ""}`, type: "button",
          text: t(user.active ? "people.disable" : "people.enable"), onclick: () => setActive(user, !user.active),
        })) : null);
  }

  async function load() {
    try {
      const page = await api(`/api/v1/users?area=${encodeURIComponent(store.code)}&limit=500`);
      const staff = page.items.filter((u) => (admin ? u.role === "head" || u.role === "deputy" : u.role === "deputy" || u.id === me.id));
      // Heads first, then deputies, each by name.
      staff.sort((a, b) => (a.role === b.role ? (a.display_name || a.username).localeCompare(b.display_name || b.username, "vi") : a.role === "head" ? -1 : 1));
      mount(list, h("section", { class: "card flush", dataset: { people: "" } },
        staff.length ? h("ul", { class: "list" }, staff.map(line)) : empty(t("people.none"))));
    } catch (err) {
      if (err.status) fail(err);
    }
  }
  load();
  return { refresh: load };
}
