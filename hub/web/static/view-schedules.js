// Schedules: tonight's preview with real times, lighting timetables and broadcast programmes.
import { api } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { clock, dateTime, dayLabel } from "./format.js";
import { t } from "./i18n.js";
import { describeAction, describeStep, describeSteps, describeWeekdays, sunLine, sunOf } from "./schedule-text.js";
import { programmeEditor, timetableEditor } from "./schedule-editors.js";
import { priorityPill } from "./broadcast-parts.js";
import { empty, fail, loadError, loadingLine, pageHead, switchButton } from "./ui.js";

const TABS = ["tonight", "lights", "programmes"];

export function render(root, ctx, params) {
  const [tab, id] = params;
  if (tab === "timetable") return timetableEditor(root, ctx, id);
  if (tab === "programme") return programmeEditor(root, ctx, id);
  const current = TABS.includes(tab) ? tab : "tonight";
  const body = h("div");
  mount(root,
    pageHead(t("schedules.title"), t("schedules.subtitle")),
    h("nav", { class: "tabs", ariaLabel: t("schedules.title") },
      TABS.map((name) => h("a", { href: `#/schedules/${name}`, text: t(`schedules.tab.${name}`), attrs: { "aria-current": name === current ? "page" : null } }))),
    body);
  const load = { tonight, lights: timetables, programmes }[current];
  const refresh = async () => {
    // Until the hub answers the tab says so; a failure with nothing yet shown offers a retry,
    // one over a list already shown only a message (the list stays readable).
    const showing = body.firstChild && !body.querySelector("[data-loading], [data-load-error]");
    if (!showing) mount(body, loadingLine());
    try {
      await load(body, ctx.store);
    } catch (err) {
      if (showing) fail(err);
      else mount(body, loadError(err, refresh));
    }
  };
  refresh();
  return { refresh };
}

async function tonight(host, store) {
  const items = await api(`${store.base}/schedule/preview?hours=24`);
  if (!items.length) {
    mount(host, h("div", { class: "card" }, empty(t("schedule.nothing_soon"))));
    return;
  }
  const groups = new Map();
  for (const item of items) {
    const label = dayLabel(item.at);
    if (!groups.has(label)) groups.set(label, []);
    groups.get(label).push(item);
  }
  const row = (p) => {
    const sun = sunLine(p);
    const zones = p.zone_id ? [p.zone_id] : p.zone_ids || [];
    const ids = p.announcement_id ? { announcement: p.announcement_id } : { scheduleId: String(p.schedule_id) };
    return h("li", { class: "item", dataset: { ...ids, kind: p.kind } },
      h("span", { class: "when", text: clock(p.at) }),
      h("span", { class: "body" },
        h("span", { class: "title", text: p.schedule_name }),
        h("span", { class: "meta" },
          h("span", { text: `${describeStep(p)} · ${describeAction(p)}` }),
          zones.length ? h("span", { text: zones.map((z) => store.zoneName(z) || z).join(", ") }) : null),
        sun ? h("span", { class: "meta" }, icon(sunOf(p) === "sunset" ? "moon" : "sun", 16), h("span", { text: sun })) : null));
  };
  const sections = [...groups].map(([label, list]) => [
    h("h2", { class: "section-title", text: label }),
    h("section", { class: "card flush" }, h("ul", { class: "list", dataset: { preview: "1" } }, list.map(row))),
  ]);
  mount(host, h("p", { class: "muted small", style: { margin: "0 4px 10px" }, text: t("schedule.preview_hint") }), sections);
}

async function timetables(host, store) {
  const page = await api(`${store.base}/timetables?limit=200`);
  const add = h("a", { class: "btn btn-primary btn-block", href: "#/schedules/timetable/new", dataset: { action: "new-timetable" } }, icon("plus"), t("timetable.new"));
  mount(host, add, h("div", { style: { height: "12px" } }),
    page.items.length ? h("section", { class: "card flush" }, h("ul", { class: "list" }, page.items.map((tt) => h("li", { class: "item", dataset: { timetable: String(tt.id) } },
      h("a", { class: "body", href: `#/schedules/timetable/${tt.id}`, style: { color: "inherit", textDecoration: "none", minHeight: "44px" } },
        h("span", { class: "title", text: tt.name }),
        h("span", { class: "meta", text: `${tt.zone_id ? store.zoneName(tt.zone_id) : t("broadcast.all_zones")} · ${describeWeekdays(tt.weekdays)}` }),
        h("span", { class: "meta", text: describeSteps(tt.steps) }),
        tt.next_run ? h("span", { class: "meta", text: t("schedule.next_run", { time: dateTime(tt.next_run) }) }) : null),
      switchButton(t("timetable.enabled_named", { name: tt.name }), tt.enabled, async (on) => {
        try {
          await api(`${store.base}/timetables/${tt.id}`, { method: "PATCH", json: { enabled: on } });
          await timetables(host, store);
        } catch (err) {
          fail(err);
        }
      })))))
      : h("div", { class: "card" }, empty(t("timetable.none"))));
}

async function programmes(host, store) {
  const page = await api(`${store.base}/programmes?limit=200`);
  const add = h("a", { class: "btn btn-primary btn-block", href: "#/schedules/programme/new" }, icon("plus"), t("programme.new"));
  mount(host, add, h("div", { style: { height: "12px" } }),
    page.items.length ? h("section", { class: "card flush" }, h("ul", { class: "list" }, page.items.map((p) => h("li", { class: "item", dataset: { programme: String(p.id) } },
      h("a", { class: "body", href: `#/schedules/programme/${p.id}`, style: { color: "inherit", textDecoration: "none", minHeight: "44px" } },
        h("span", { class: "title", text: p.name }),
        h("span", { class: "meta" }, priorityPill(p.priority), h("span", { text: programmeWhen(p) })),
        p.next_run ? h("span", { class: "meta", text: t("schedule.next_run", { time: dateTime(p.next_run) }) }) : null),
      switchButton(t("timetable.enabled_named", { name: p.name }), p.enabled, async (on) => {
        try {
          await api(`${store.base}/programmes/${p.id}`, { method: "PATCH", json: { enabled: on } });
          await programmes(host, store);
        } catch (err) {
          fail(err);
        }
      })))))
      : h("div", { class: "card" }, empty(t("programme.none"))));
}

function programmeWhen(p) {
  const at = (p.at || "").slice(0, 5);
  if (p.recurrence === "once") return t("programme.when_once", { date: p.on_date || "", at });
  if (p.recurrence === "weekly") return t("programme.when_weekly", { days: describeWeekdays(p.weekdays), at });
  if (p.recurrence === "monthly") return t("programme.when_monthly", { day: p.day_of_month, at });
  if (p.recurrence === "cron") return `cron ${p.cron}`;
  return t("programme.when_daily", { at });
}
