// The area at a glance: lights, speakers, cameras, and what needs the head's attention.
import { api } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { emergencyCard } from "./emergency.js";
import { clock, dateTime, dayLabel } from "./format.js";
import { t } from "./i18n.js";
import { lightStatus } from "./store.js";
import { describeAction, describeStep } from "./schedule-text.js";
import { pageHead } from "./ui.js";

const DAY_MS = 86400000;

export function render(root, { store }) {
  const stats = h("div", { class: "stats" });
  const attention = h("ul", { class: "list attention" });
  const upcoming = h("ul", { class: "list" });
  let remote = { failedCommands: [], missed: [], failedBroadcasts: [] };
  let next = [];

  mount(root,
    pageHead(t("overview.title"), store.area ? store.area.name : "",
      h("a", { class: "btn btn-sm", href: "#/area", dataset: { link: "area" }, text: t("overview.area_view") })),
    h("section", { ariaLabel: t("overview.devices") }, stats),
    h("section", { class: "card flush", ariaLabelledby: "att-h" },
      h("div", { class: "card-head" }, h("h2", { id: "att-h", text: t("overview.attention") })),
      attention),
    emergencyCard(store),
    h("section", { class: "card flush", ariaLabelledby: "next-h" },
      h("div", { class: "card-head" },
        h("h2", { id: "next-h", text: t("overview.next") }),
        h("a", { class: "btn btn-ghost btn-sm", href: "#/schedules/tonight", text: t("overview.see_all") })),
      upcoming));

  function drawStats() {
    const lights = store.list("light");
    const by = { on: 0, off: 0, fault: 0, offline: 0 };
    for (const d of lights) by[lightStatus(d)] += 1;
    const speakers = store.list("speaker");
    const spkOnline = speakers.filter((d) => d.online).length;
    const playing = speakers.filter((d) => d.online && d.state && d.state.playback === "playing").length;
    const cams = store.list("camera");
    const camOnline = cams.filter((d) => d.online).length;
    mount(stats,
      h("a", { class: "stat wide", href: "#/lights", dataset: { stat: "lights" } },
        h("div", { class: "k" }, icon("bulb", 18), t("overview.lights")),
        h("div", { class: "v" }, String(by.on), h("small", { text: ` / ${lights.length} ${t("overview.lights_on")}` })),
        h("div", { class: "pills" },
          h("span", { class: "pill on", text: t("light.count_on", { n: by.on }) }),
          h("span", { class: "pill", text: t("light.count_off", { n: by.off }) }),
          h("span", { class: `pill ${by.fault ? "bad" : ""}`, text: t("light.count_fault", { n: by.fault }) }),
          h("span", { class: `pill ${by.offline ? "warn" : ""}`, text: t("light.count_offline", { n: by.offline }) }))),
      h("a", { class: "stat", href: "#/broadcast", dataset: { stat: "speakers" } },
        h("div", { class: "k" }, icon("speaker", 18), t("overview.speakers")),
        h("div", { class: "v" }, String(spkOnline), h("small", { text: ` / ${speakers.length}` })),
        h("div", { class: "pills" },
          spkOnline < speakers.length
            ? h("span", { class: "pill warn", text: t("overview.speakers_down", { n: speakers.length - spkOnline }) })
            : h("span", { class: "pill ok", text: t("overview.online") }),
          playing ? h("span", { class: "pill info", text: t("speaker.playing_n", { n: playing }) }) : null)),
      h("a", { class: "stat", href: "#/cameras", dataset: { stat: "cameras" } },
        h("div", { class: "k" }, icon("camera", 18), t("overview.cameras")),
        h("div", { class: "v" }, String(camOnline), h("small", { text: ` / ${cams.length}` })),
        h("div", { class: "pills" },
          camOnline < cams.length
            ? h("span", { class: "pill bad", text: t("overview.cameras_down", { n: cams.length - camOnline }) })
            : h("span", { class: "pill ok", text: t("overview.online") }))));
  }

  function item(kind, iconName, title, meta, href) {
    return h("li", {}, h("a", { class: "item", href, dataset: { attention: kind } },
      h("span", { class: `icon-wrap ${kind}` }, icon(iconName, 20)),
      h("span", { class: "body" }, h("span", { class: "title", text: title }), meta ? h("span", { class: "meta", text: meta }) : null),
      h("span", { class: "chev" }, icon("chevron", 18))));
  }

  function drawAttention() {
    const rows = [];
    const pending = store.pendingDevices();
    if (pending.length) rows.push(item("info", "chip", t("overview.pending_devices", { n: pending.length }), t("overview.pending_hint"), "#/devices"));
    // A dead gateway is one line that names it, not a row per camera behind it.
    const behind = new Set();
    for (const gw of store.list("gateway").filter((g) => !g.online)) {
      const dark = [...store.devices.values()].filter((d) => d.via === gw.device_id && d.status === "active" && !d.online);
      for (const d of dark) behind.add(d.device_id);
      rows.push(item("bad", "offline", t("overview.gateway_down", { name: gw.name || gw.device_id, n: dark.length }),
        gw.availability_at ? t("overview.since", { time: dateTime(gw.availability_at) }) : "", "#/devices"));
    }
    const alone = (d) => !d.online && !behind.has(d.device_id);
    for (const cam of store.list("camera").filter(alone)) {
      rows.push(item("bad", "camera", t("overview.camera_down", { name: cam.name }),
        cam.availability_at ? t("overview.since", { time: dateTime(cam.availability_at) }) : "", "#/cameras"));
    }
    for (const cam of store.list("camera").filter((d) => d.online && d.state && d.state.tampering)) {
      rows.push(item("bad", "alert", t("overview.camera_tamper", { name: cam.name }), "", "#/cameras"));
    }
    const faulty = store.list("light").filter((d) => lightStatus(d) === "fault");
    if (faulty.length) rows.push(item("warn", "bulb", t("overview.faulty_lights", { n: faulty.length }), faulty.slice(0, 3).map((d) => d.name).join(", "), "#/lights"));
    const offline = store.list("light").filter(alone).length + store.list("speaker").filter(alone).length;
    if (offline) rows.push(item("warn", "offline", t("overview.offline_devices", { n: offline }), "", "#/lights"));
    if (remote.failedCommands.length) rows.push(item("warn", "x", t("overview.failed_commands", { n: remote.failedCommands.length }), t("overview.last_24h"), "#/logs/commands"));
    if (remote.missed.length) rows.push(item("warn", "clock", t("overview.missed_runs", { n: remote.missed.length }), t("overview.last_7d"), "#/logs/missed"));
    if (remote.failedBroadcasts.length) rows.push(item("bad", "megaphone", t("overview.failed_broadcasts", { n: remote.failedBroadcasts.length }), t("overview.last_24h"), "#/logs/broadcasts"));
    if (!rows.length) {
      rows.push(h("li", {}, h("div", { class: "item all-good" },
        h("span", { class: "icon-wrap ok" }, icon("check", 20)),
        h("span", { class: "body" }, h("span", { class: "title", text: t("overview.all_good") })))));
    }
    mount(attention, rows);
  }

  function drawNext() {
    if (!next.length) {
      mount(upcoming, h("li", {}, h("p", { class: "empty", text: t("schedule.nothing_soon") })));
      return;
    }
    // Tomorrow's 05:30 must not read as today's: a time not today carries its dd/mm.
    const today = dayLabel(new Date());
    mount(upcoming, next.slice(0, 4).map((p) => h("li", {}, h("div", { class: "item", dataset: { kind: p.kind } },
      h("span", { class: "when" }, clock(p.at),
        dayLabel(p.at) === today ? null : h("small", { class: "day", style: { display: "block", fontSize: "0.75rem", fontWeight: "600" }, text: dateTime(p.at).split(" ")[1] })),
      h("span", { class: "body" },
        h("span", { class: "title", text: p.schedule_name }),
        h("span", { class: "meta", text: `${describeStep(p)} · ${describeAction(p)}` }))))));
  }

  async function fetchRemote() {
    const since = Date.now() - DAY_MS;
    const recent = (items, key) => items.filter((x) => new Date(x[key]).getTime() >= since);
    try {
      const [timedOut, failed, expired, missed, broadcasts, preview] = await Promise.all([
        api(`${store.base}/commands?status=timed_out&limit=100`),
        api(`${store.base}/commands?status=failed&limit=100`),
        api(`${store.base}/commands?status=expired&limit=100`),
        api(`${store.base}/schedule/runs?outcome=missed&limit=100`),
        api(`${store.base}/announcements?status=failed&limit=50`),
        api(`${store.base}/schedule/preview?hours=24`),
      ]);
      remote = {
        failedCommands: recent([...timedOut.items, ...failed.items, ...expired.items], "created_at"),
        missed: missed.items.filter((r) => new Date(r.planned_at).getTime() >= Date.now() - 7 * DAY_MS),
        failedBroadcasts: recent(broadcasts.items, "created_at"),
      };
      next = preview;
    } catch {
      // the banner says the hub is unreachable; keep what we had
    }
    drawAttention();
    drawNext();
  }

  function draw() {
    drawStats();
    drawAttention();
  }

  draw();
  drawNext();
  fetchRemote();
  const off = store.on("devices", draw);
  const timer = setInterval(fetchRemote, 30000);
  return {
    cleanup: () => { off(); clearInterval(timer); },
    refresh: fetchRemote,
  };
}
