// Logs: who did what (audit, worded from the hub's structured fields by audit-text.js), the
// broadcast log, failed commands and missed schedule runs.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { dateTime } from "./format.js";
import { getLang, t } from "./i18n.js";
import { actionText, actorText, fullDateTime, resultText, targetText } from "./audit-text.js";
import { announcementSheet, priorityPill, statusPill } from "./broadcast-parts.js";
import { empty, fail, pageHead } from "./ui.js";

const TABS = ["audit", "broadcasts", "commands", "missed"];
const PAGE = 50;

export function render(root, { store }, params) {
  const current = TABS.includes(params[0]) ? params[0] : "audit";
  const body = h("div");
  mount(root,
    pageHead(t("logs.title"), ""),
    h("nav", { class: "tabs", ariaLabel: t("logs.title") },
      TABS.map((name) => h("a", { href: `#/logs/${name}`, text: t(`logs.tab.${name}`), attrs: { "aria-current": name === current ? "page" : null } }))),
    body);
  const loaders = { audit, broadcasts, commands, missed };
  const refresh = () => pager(body, (offset) => loaders[current](store, offset));
  refresh();
  return { refresh };
}

/** A list with "more" at the bottom; ``load(offset)`` resolves to { rows, total }. */
async function pager(host, load) {
  const list = h("ul", { class: "list" });
  const more = h("button", { class: "btn btn-block", type: "button", text: t("logs.more"), hidden: true });
  let offset = 0;
  const next = async () => {
    more.disabled = true;
    try {
      const { rows, total, extra } = await load(offset);
      if (offset === 0) mount(host, extra || null, h("section", { class: "card flush" }, list), more);
      if (offset === 0 && !rows.length) mount(list, h("li", {}, empty(t("logs.empty"))));
      list.append(...rows);
      offset += PAGE;
      more.hidden = offset >= total;
    } catch (err) {
      if (err.status) fail(err);
    }
    more.disabled = false;
  };
  more.addEventListener("click", next);
  await next();
}

function actionLabel(action) {
  const key = `audit.${action}`;
  const text = t(key);
  return text === key ? action : text;
}

async function audit(store, offset) {
  const page = await api(`${store.base}/audit?limit=${PAGE}&offset=${offset}`);
  const extra = offset === 0 ? h("div", { class: "grid2", style: { marginBottom: "12px" } },
    h("a", { class: "btn", href: `${store.base}/audit/export?lang=${getLang()}`, download: "nhat-ky-thao-tac.csv", dataset: { action: "export-audit" }, text: t("logs.export_csv") })) : null;
  return {
    total: page.total,
    extra,
    rows: page.items.map((a) => {
      const target = targetText(a);
      const result = resultText(a);
      return h("li", { class: "item", dataset: { audit: a.action } },
        h("span", { class: "body" },
          h("span", { class: "title", text: target ? t("audit.line", { action: actionText(a), target }) : actionText(a) }),
          result ? h("span", { class: "meta", dataset: { result: a.outcome || "" }, text: result }) : null,
          h("span", { class: "meta" }, h("span", { text: fullDateTime(a.at) }), h("span", { text: actorText(a) }))));
    }),
  };
}

async function broadcasts(store, offset) {
  const page = await api(`${store.base}/announcements?limit=${PAGE}&offset=${offset}`);
  const extra = offset === 0 ? h("div", { class: "grid2", style: { marginBottom: "12px" } },
    h("a", { class: "btn", href: `${store.base}/announcements/export?format=csv&lang=${getLang()}`, download: "nhat-ky-phat-thanh.csv", text: t("logs.export_csv") }),
    h("a", { class: "btn", href: `${store.base}/announcements/export?format=json`, download: "nhat-ky-phat-thanh.json", text: t("logs.export_json") })) : null;
  return {
    total: page.total,
    extra,
    rows: page.items.map((a) => h("li", {}, h("button", { class: "item", type: "button", onclick: () => announcementSheet(store, a.id) },
      h("span", { class: "body" },
        h("span", { class: "title", text: a.title }),
        h("span", { class: "meta" }, statusPill(a.status), priorityPill(a.priority), h("span", { text: dateTime(a.start_at || a.not_before) })),
        a.coverage ? h("span", { class: "meta", text: t("coverage.line", { p: a.coverage.percent, f: a.coverage.finished, n: a.coverage.targeted }) }) : null)))),
  };
}

async function commands(store, offset) {
  // Failed, expired and unconfirmed commands, newest first (three small queries merged).
  const pages = await Promise.all(["failed", "expired", "timed_out"].map((s) => api(`${store.base}/commands?status=${s}&limit=${PAGE}&offset=${offset}`)));
  const items = pages.flatMap((p) => p.items).sort((a, b) => b.created_at.localeCompare(a.created_at));
  return {
    total: Math.max(...pages.map((p) => p.total)),
    rows: items.map((c) => h("li", { class: "item", dataset: { command: c.id } },
      h("span", { class: "body" },
        h("span", { class: "title", text: (store.devices.get(c.device_id) || {}).name || c.device_id }),
        h("span", { class: "meta" }, h("span", { class: "pill warn", text: t(`command.${c.status}`) }), h("span", { text: dateTime(c.created_at) }), h("span", { text: actionLabel(c.action) })),
        c.error ? h("span", { class: "meta", text: c.error }) : null))),
  };
}

async function missed(store, offset) {
  const page = await api(`${store.base}/schedule/runs?outcome=missed&limit=${PAGE}&offset=${offset}`);
  return {
    total: page.total,
    rows: page.items.map((r) => h("li", { class: "item", dataset: { run: String(r.id) } },
      h("span", { class: "body" },
        h("span", { class: "title", text: r.detail || t(`schedule.kind.${r.schedule_kind}`) }),
        h("span", { class: "meta" }, h("span", { class: "pill warn", text: t("logs.missed_pill") }), h("span", { text: t(`schedule.kind.${r.schedule_kind}`) }), h("span", { text: dateTime(r.planned_at) }))))),
  };
}
