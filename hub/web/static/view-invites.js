// Invite residents: a link and its QR code to send or show (the code inside, to read out at a
// meeting), and the residents of the area with where each stands.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { dateTime } from "./format.js";
import { t } from "./i18n.js";
import { copyAndTell, shareLink, svgFromHub } from "./share.js";
import { empty, fail, field, pageHead, sheet } from "./ui.js";

// The hub keeps only a hash of each code; this phone keeps the codes it made, so the head can
// share one again from it. Entries of invites no longer active are dropped.
const KEPT = (area) => `khu.invites.${area}`;

function keptCodes(area) {
  try {
    return JSON.parse(localStorage.getItem(KEPT(area)) || "{}");
  } catch {
    return {};
  }
}

function keepCode(area, id, code) {
  const codes = keptCodes(area);
  codes[id] = code;
  localStorage.setItem(KEPT(area), JSON.stringify(codes));
}

function pruneCodes(area, activeIds) {
  const codes = keptCodes(area);
  for (const id of Object.keys(codes)) if (!activeIds.has(Number(id))) delete codes[id];
  localStorage.setItem(KEPT(area), JSON.stringify(codes));
}

/** The link, its QR code, the code itself, with copy and share. */
export function showShare(store, { code, link, qr_svg: qr, expires_at: until, max_uses: n }) {
  const areaName = (store.area && store.area.name) || store.code;
  sheet(t("invites.code_title"), (body) => body.append(
    h("p", { class: "muted small", text: t("invites.code_explain") }),
    h("div", { class: "qr", dataset: { link } }, svgFromHub(qr, t("invites.qr"))),
    h("div", { class: "field" },
      h("span", { class: "label", text: t("invites.link") }),
      h("code", { class: "secret", dataset: { inviteLink: "" }, text: link })),
    h("div", { class: "code-box", dataset: { inviteCode: "" }, text: code }),
    until ? h("p", { class: "muted small", style: { marginTop: "10px" }, text: t("invites.until", { time: dateTime(until), n }) }) : null,
    h("div", { class: "sheet-actions" },
      h("button", { class: "btn", type: "button", text: t("share.copy"), onclick: () => copyAndTell(link) }),
      h("button", {
        class: "btn btn-primary", type: "button", text: t("share.share"),
        onclick: () => shareLink({ title: t("invites.share_title"), text: t("invites.share_text", { area: areaName, code }), url: link }),
      }))));
}

export function render(root, { store }) {
  const residents = h("div");
  const list = h("div");
  const hours = h("select", {}, [24, 72, 168, 720].map((n) => h("option", { value: String(n), text: t("invites.valid_hours", { n }), selected: n === 72 })));
  const uses = h("input", { type: "number", min: 1, max: 1000, value: 50, inputMode: "numeric" });
  const create = h("button", { class: "btn btn-primary btn-block", type: "button", text: t("invites.create") });
  create.addEventListener("click", async () => {
    create.disabled = true;
    try {
      const inv = await api(`${store.base}/invites`, { method: "POST", json: { expires_in_hours: Number(hours.value), max_uses: Number(uses.value) || 1 } });
      keepCode(store.code, inv.id, inv.code);
      showShare(store, inv);
      load();
    } catch (err) {
      fail(err);
    }
    create.disabled = false;
  });
  mount(root, pageHead(t("invites.title"), t("invites.subtitle")),
    h("section", { class: "card" }, h("div", { class: "split" }, field(t("invites.valid"), hours), field(t("invites.uses"), uses)), create),
    residents, list);

  async function shareAgain(inv, code) {
    try {
      const shared = await api(`${store.base}/invites/${inv.id}/share`, { method: "POST", json: { code } });
      showShare(store, { ...inv, ...shared, code });
    } catch (err) {
      fail(err);
    }
  }

  function inviteLine(inv, codes) {
    const active = inv.status === "active";
    const waiting = active && inv.uses === 0;
    const pill = waiting
      ? h("span", { class: "pill warn", text: t("invites.status.waiting") })
      : h("span", { class: `pill ${active ? "ok" : inv.status === "expired" ? "bad" : ""}`, text: t(`invites.status.${inv.status}`) });
    const code = codes[inv.id];
    return h("li", { class: "item stacked", dataset: { invite: String(inv.id), status: waiting ? "waiting" : inv.status } },
      h("span", { class: "body" },
        h("span", { class: "title", text: code || `${inv.hint}…` }),
        h("span", { class: "meta", text: t("invites.joined", { used: inv.uses, n: inv.max_uses, time: dateTime(inv.expires_at) }) }),
        h("span", { class: "pills" }, pill)),
      active ? h("span", { class: "item-actions" },
        code ? h("button", { class: "btn btn-sm", type: "button", text: t("invites.share_again"), onclick: () => shareAgain(inv, code) }) : null,
        h("button", {
          class: "btn btn-sm btn-danger-outline", type: "button", text: t("invites.revoke"),
          onclick: async () => {
            try {
              await api(`${store.base}/invites/${inv.id}`, { method: "DELETE" });
              load();
            } catch (err) {
              fail(err);
            }
          },
        })) : null);
  }

  function residentLine(user) {
    return h("li", { class: "item", dataset: { resident: user.username } },
      h("span", { class: "body" },
        h("span", { class: "title", text: user.display_name || user.username }),
        h("span", { class: "meta", text: t("people.login", { username: user.username }) })),
      h("span", { class: `pill ${user.active ? "ok" : "bad"}`, text: t(user.active ? "invites.resident.active" : "invites.resident.disabled") }));
  }

  async function load() {
    try {
      const [page, people] = await Promise.all([
        api(`${store.base}/invites?limit=50`),
        api(`/api/v1/users?area=${encodeURIComponent(store.code)}&role=resident&limit=500`),
      ]);
      pruneCodes(store.code, new Set(page.items.filter((i) => i.status === "active").map((i) => i.id)));
      const codes = keptCodes(store.code);
      mount(residents, h("h2", { class: "section-title", text: t("invites.residents") }),
        h("section", { class: "card flush", dataset: { residents: "" } }, people.items.length ? h("ul", { class: "list" }, people.items.map(residentLine)) : empty(t("invites.residents_none"))));
      mount(list, h("h2", { class: "section-title", text: t("invites.codes") }),
        h("section", { class: "card flush", dataset: { invites: "" } }, page.items.length ? h("ul", { class: "list" }, page.items.map((inv) => inviteLine(inv, codes))) : empty(t("invites.none"))));
    } catch (err) {
      if (err.status) fail(err);
    }
  }
  load();
  return { refresh: load };
}
