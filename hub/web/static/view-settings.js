// Settings: language, notifications on this phone, quiet hours, install, account.
import { api } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { clock } from "./format.js";
import { getLang, LANGS, setLang, t } from "./i18n.js";
import { disablePush, enablePush, pushState } from "./push.js";
import { clockInput, fail, field, pageHead, switchButton, toast } from "./ui.js";

let installPrompt = null;
window.addEventListener("beforeinstallprompt", (e) => {
  e.preventDefault();
  installPrompt = e;
});

export function render(root, { me, logout }) {
  const push = h("div");
  const quiet = h("div");
  const lang = h("select", {}, LANGS.map((l) => h("option", { value: l, text: t(`lang.${l}`), selected: l === getLang() })));
  lang.addEventListener("change", () => setLang(lang.value));

  mount(root,
    pageHead(t("settings.title"), ""),
    h("section", { class: "card" }, field(t("settings.language"), lang)),
    h("section", { class: "card", ariaLabelledby: "set-push" },
      h("h2", { id: "set-push", text: t("push.title"), style: { marginBottom: "6px" } }), push),
    h("section", { class: "card", ariaLabelledby: "set-quiet" },
      h("h2", { id: "set-quiet", text: t("quiet.title"), style: { marginBottom: "6px" } }), quiet),
    installPrompt ? h("section", { class: "card" },
      h("h2", { text: t("install.title"), style: { marginBottom: "6px" } }),
      h("p", { class: "muted small", text: t("install.explain"), style: { marginBottom: "12px" } }),
      h("button", {
        class: "btn btn-block", type: "button", text: t("install.button"),
        onclick: async () => { installPrompt.prompt(); installPrompt = null; },
      })) : null,
    h("section", { class: "card", ariaLabelledby: "set-account" },
      h("h2", { id: "set-account", text: t("settings.account"), style: { marginBottom: "10px" } }),
      h("dl", { class: "kv" },
        h("dt", { text: t("settings.username") }), h("dd", { text: me.username }),
        h("dt", { text: t("settings.role") }), h("dd", { text: t(`role.${me.role}`) })),
      h("button", { class: "btn btn-block", type: "button", dataset: { action: "logout" }, onclick: logout }, icon("logout", 20), t("action.logout"))));

  async function drawPush() {
    const state = await pushState();
    if (state === "unsupported" || state === "denied") {
      mount(push, h("p", { class: "muted small", text: t(`push.${state}`) }));
      return;
    }
    const sw = switchButton(t("push.title"), state === "on", async (on) => {
      sw.disabled = true;
      try {
        if (on) await enablePush();
        else await disablePush();
        toast(on ? t("push.enabled") : t("push.disabled"), "ok");
      } catch (err) {
        fail(err);
      }
      drawPush();
    });
    mount(push, h("div", { class: "item", style: { padding: "0" } },
      h("span", { class: "body" }, h("span", { class: "meta", text: t("push.explain") })), sw));
  }

  async function drawQuiet() {
    let q;
    try {
      q = await api("/api/v1/me/quiet-hours");
    } catch (err) {
      if (err.status) fail(err);
      return;
    }
    const start = clockInput((q.start || "22:00").slice(0, 5));
    const end = clockInput((q.end || "06:00").slice(0, 5));
    const fields = h("div", { class: "split" }, field(t("quiet.from"), start), field(t("quiet.to"), end));
    const save = h("button", { class: "btn btn-primary btn-block", type: "button", text: t("action.save"), dataset: { action: "save-quiet" } });
    fields.hidden = !q.enabled;
    save.hidden = !q.enabled;
    const sw = switchButton(t("quiet.title"), q.enabled, async (on) => {
      if (on) {
        sw.setAttribute("aria-checked", "true");
        fields.hidden = false;
        save.hidden = false;
        return;
      }
      try {
        await api("/api/v1/me/quiet-hours", { method: "DELETE" });
        toast(t("quiet.cleared"), "ok");
      } catch (err) {
        fail(err);
      }
      drawQuiet();
    });
    save.addEventListener("click", async () => {
      try {
        if (!start.clock() || !end.clock()) throw new Error(t("time.bad_clock"));
        await api("/api/v1/me/quiet-hours", { method: "PUT", json: { start: start.clock(), end: end.clock() } });
        toast(t("quiet.saved", { from: start.clock(), to: end.clock() }), "ok");
        drawQuiet();
      } catch (err) {
        fail(err);
      }
    });
    mount(quiet,
      h("div", { class: "item", style: { padding: "0 0 8px" } },
        h("span", { class: "body" }, h("span", { class: "meta", text: t("quiet.explain") })), sw),
      q.active_now && q.ends_at ? h("p", { class: "pill info", style: { marginBottom: "10px" }, text: t("quiet.active_until", { time: clock(q.ends_at) }) }) : null,
      fields, save);
  }

  drawPush();
  drawQuiet();
  return { refresh: drawQuiet };
}
