// Invite residents: a code to read out at a meeting; they register with it on their phones.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { dateTime } from "./format.js";
import { t } from "./i18n.js";
import { empty, fail, field, pageHead, sheet } from "./ui.js";

export function render(root, { store }) {
  const list = h("div");
  const hours = h("select", {}, [24, 72, 168, 720].map((n) => h("option", { value: String(n), text: t("invites.valid_hours", { n }), selected: n === 72 })));
  const uses = h("input", { type: "number", min: 1, max: 1000, value: 50, inputMode: "numeric" });
  const create = h("button", { class: "btn btn-primary btn-block", type: "button", text: t("invites.create") });
  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const inv = await api(`${store.base}/invites`, { method: "POST", json: { expires_in_hours: Number(hours.value), max_uses: Number(uses.value) || 1 } });
      sheet(t("invites.code_title"), (body) => body.append(
        h("p", { class: "muted", text: t("invites.code_explain"), style: { marginBottom: "12px" } }),
        h("div", { class: "code-box", text: inv.code }),
        h("p", { class: "muted small", style: { marginTop: "10px" }, text: t("invites.until", { time: dateTime(inv.expires_at), n: inv.max_uses }) })));
      load();
    } catch (err) {
      fail(err);
    }
    create.disabled = false;
  });
  mount(root, pageHead(t("invites.title"), t("invites.subtitle")),
    h("section", { class: "card" }, h("div", { class: "split" }, field(t("invites.valid"), hours), field(t("invites.uses"), uses)), create),
    list);

  async function load() {
    try {
      const page = await api(`${store.base}/invites?limit=50`);
      mount(list, page.items.length ? h("section", { class: "card flush" }, h("ul", { class: "list" }, page.items.map((inv) => h("li", { class: "item" },
        h("span", { class: "body" },
          h("span", { class: "title", text: `${inv.hint}…` }),
          h("span", { class: "meta", text: t("invites.line", { used: inv.uses, n: inv.max_uses, time: dateTime(inv.expires_at) }) })),
        inv.status === "active" ? h("button", {
          class: "btn btn-sm btn-danger-outline", type: "button", text: t("invites.revoke"),
          onclick: async () => {
            try {
              await api(`${store.base}/invites/${inv.id}`, { method: "DELETE" });
              load();
            } catch (err) {
              fail(err);
            }
          },
        }) : h("span", { class: "pill", text: t(`invites.status.${inv.status}`) })))))
        : h("div", { class: "card" }, empty(t("invites.none"))));
    } catch (err) {
      if (err.status) fail(err);
    }
  }
  load();
  return { refresh: load };
}
