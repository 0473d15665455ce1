// The area at a glance: each street's lights as dots of their confirmed state, what is faulty
// or offline by name (a dead gateway as one line), and each camera's latest snapshot.
import { api } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { ago, dateTime } from "./format.js";
import { t } from "./i18n.js";
import { describeLight } from "./schedule-text.js";
import { lightStatus } from "./store.js";
import { pageHead, sheet } from "./ui.js";

const HREF = { light: "#/lights", speaker: "#/broadcast", camera: "#/cameras", gateway: "#/devices" };
const KIND_ORDER = { light: 0, speaker: 1, camera: 2 };
const collator = new Intl.Collator("vi", { numeric: true });

export function render(root, { store, go }) {
  const zoneList = h("ul", { class: "list" });
  const lightsMeta = h("span", { class: "meta" });
  const problems = h("ul", { class: "list attention", dataset: { problems: "" } });
  const shotGrid = h("div", { class: "area-shots" });
  const shotCard = h("section", { class: "card", ariaLabelledby: "area-shots-h", hidden: true },
    h("div", { class: "card-head" }, h("h2", { id: "area-shots-h", text: t("area.snapshots") })), shotGrid);
  const zoneRows = new Map(); // zone key -> { lights, update }
  const pictures = new Map(); // camera id -> { at, el }: a picture is fetched once per snapshot
  let shots = new Map(); // camera id -> { label, taken_at } from the hub's list
  let layoutKey = "";

  mount(root,
    pageHead(t("area.title"), store.area ? store.area.name : ""),
    h("section", { class: "card flush", ariaLabelledby: "area-lights-h" },
      h("div", { class: "zone-head" }, h("div", { class: "body" }, h("h2", { id: "area-lights-h", text: t("area.lights") }), lightsMeta)),
      legend(),
      zoneList),
    h("section", { class: "card flush", ariaLabelledby: "area-problems-h" },
      h("div", { class: "card-head" }, h("h2", { id: "area-problems-h", text: t("area.problems") })),
      problems),
    shotCard);

  // ---- streets -----------------------------------------------------------------------

  function layout() {
    const lights = store.list("light");
    const key = lights.map((d) => `${d.device_id}:${d.zone_id}`).join("|") + JSON.stringify(store.area && store.area.zones);
    if (key === layoutKey) return;
    layoutKey = key;
    zoneRows.clear();
    const byZone = new Map();
    for (const d of lights) {
      if (!byZone.has(d.zone_id)) byZone.set(d.zone_id, []);
      byZone.get(d.zone_id).push(d.device_id);
    }
    const zones = store.zones().filter((z) => byZone.has(z.id)).map((z) => ({ id: z.id, name: z.name }));
    if (byZone.has(null)) zones.push({ id: null, name: t("lights.no_zone") });
    const rows = zones.map((z) => zoneRow(z, byZone.get(z.id)));
    if (!rows.length) rows.push(h("li", {}, h("p", { class: "empty", text: t("lights.none") })));
    mount(zoneList, rows);
  }

  function zoneRow(zone, ids) {
    const dots = h("span", { class: "area-dots", attrs: { "aria-hidden": "true" } });
    const count = h("span", { class: "meta" });
    const title = h("span", { class: "title", text: zone.name });
    const open = h("button", { class: "item", type: "button", onclick: () => zoneSheet(zone, ids) },
      h("span", { class: "body" }, title, dots, count), h("span", { class: "chev" }, icon("chevron", 18)));
    const li = h("li", { dataset: { zone: zone.id === null ? "none" : String(zone.id) } }, open);
    const update = () => {
      const states = ids.map((id) => store.devices.get(id)).filter(Boolean).map((d) => ({ d, s: dotState(d) }));
      const by = { on: 0, fault: 0, offline: 0 };
      for (const { s } of states) if (s in by) by[s] += 1;
      mount(dots, states.map(({ d, s }) => h("i", { class: s, dataset: { deviceId: d.device_id } })));
      const lit = t("area.zone_lit", { on: by.on, n: states.length });
      const extra = [by.fault ? t("light.count_fault", { n: by.fault }) : null, by.offline ? t("light.count_offline", { n: by.offline }) : null].filter(Boolean);
      mount(count, h("span", { text: lit }), extra.map((x) => h("span", { class: "area-warn", text: x })));
      open.setAttribute("aria-label", `${zone.name}: ${[lit, ...extra].join(", ")}`);
    };
    zoneRows.set(li.dataset.zone, { update });
    return li;
  }

  function drawLights() {
    layout();
    for (const row of zoneRows.values()) row.update();
    const lights = store.list("light");
    lightsMeta.textContent = t("area.zone_lit", { on: lights.filter((d) => dotState(d) === "on").length, n: lights.length });
  }

  /** A sheet of one street's lights by name with their confirmed state, live. */
  function zoneSheet(zone, ids) {
    sheet(zone.name, (body, close) => {
      const list = h("ul", { class: "list", dataset: { zoneLights: "" } });
      const fill = () => mount(list, ids.map((id) => store.devices.get(id)).filter(Boolean).map((d) =>
        h("li", { class: "item", dataset: { deviceId: d.device_id, state: dotState(d) } },
          h("span", { class: `area-dot ${dotState(d)}` }),
          h("span", { class: "body" }, h("span", { class: "title", text: d.name }), h("span", { class: "meta", text: lightText(d) })))));
      fill();
      const off = store.on("devices", (id) => { if (!id || ids.includes(id)) fill(); });
      body.closest("dialog").addEventListener("close", off);
      body.append(list, h("button", {
        class: "btn btn-block", type: "button", text: t("area.open_lights"), style: { marginTop: "12px" },
        onclick: () => { close(); go("lights"); },
      }));
    });
  }

  // ---- faulty and offline ------------------------------------------------------------

  function drawProblems() {
    const active = [...store.devices.values()].filter((d) => d.status === "active");
    const rows = [];
    // A dead gateway is one line naming it, not a row for each device behind it.
    const behind = new Set();
    for (const gw of active.filter((d) => d.kind === "gateway" && !d.online)) {
      const dark = active.filter((d) => d.via === gw.device_id && !d.online);
      for (const d of dark) behind.add(d.device_id);
      const since = gw.availability_at ? t("overview.since", { time: dateTime(gw.availability_at) }) : "";
      rows.push(problemRow("gateway", gw, "bad", "offline", t("overview.gateway_down", { name: gw.name || gw.device_id, n: dark.length }), since));
    }
    const alone = active
      .filter((d) => d.kind in KIND_ORDER && !behind.has(d.device_id))
      .sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || collator.compare(a.name, b.name));
    for (const d of alone.filter((x) => !x.online)) {
      const since = d.availability_at ? t("overview.since", { time: dateTime(d.availability_at) }) : "";
      const gone = d.kind === "camera" ? t("cameras.offline") : t("light.offline");
      rows.push(problemRow("offline", d, "bad", "offline", d.name, [t(`kind.${d.kind}`), gone, since].filter(Boolean).join(" · ")));
    }
    for (const d of alone.filter((x) => x.online)) {
      const fault = faultText(d);
      if (fault) rows.push(problemRow("fault", d, "warn", "alert", d.name, `${t(`kind.${d.kind}`)} · ${fault}`));
    }
    if (!rows.length) {
      rows.push(h("li", {}, h("div", { class: "item all-good" },
        h("span", { class: "icon-wrap ok" }, icon("check", 20)),
        h("span", { class: "body" }, h("span", { class: "title", text: t("area.all_good") })))));
    }
    mount(problems, rows);
  }

  function problemRow(kind, d, tone, iconName, title, meta) {
    return h("li", { dataset: { problem: kind, deviceId: d.device_id } }, h("a", { class: "item", href: HREF[d.kind] || "#/devices" },
      h("span", { class: `icon-wrap ${tone}` }, icon(iconName, 20)),
      h("span", { class: "body" }, h("span", { class: "title", text: title }), meta ? h("span", { class: "meta", text: meta }) : null),
      h("span", { class: "chev" }, icon("chevron", 18))));
  }

  // ---- snapshots ---------------------------------------------------------------------

  async function loadShots() {
    try {
      const list = await api(`${store.base}/cameras/snapshots`);
      shots = new Map(list.map((s) => [s.device_id, s]));
    } catch {
      // unreachable: the banner says so; keep what we had
    }
    drawShots();
  }

  /** The newer of the hub's list and what the live stream has said since. */
  function latestShot(d) {
    const live = d.snapshot;
    const known = shots.get(d.device_id);
    return live && (!known || Date.parse(live.taken_at) > Date.parse(known.taken_at)) ? live : known;
  }

  function drawShots() {
    const cams = store.list("camera").map((d) => ({ d, shot: latestShot(d) })).filter((x) => x.shot)
      .sort((a, b) => collator.compare(a.d.name, b.d.name));
    shotCard.hidden = !cams.length;
    mount(shotGrid, cams.map(({ d, shot }) => shotFigure(d, shot)));
  }

  function shotFigure(d, shot) {
    const at = Date.parse(shot.taken_at);
    let pic = pictures.get(d.device_id);
    if (!pic || pic.at !== at) {
      const src = `${store.base}/cameras/${encodeURIComponent(d.device_id)}/snapshot?at=${at}`;
      pic = { at, src, el: h("img", { src, loading: "lazy", alt: "" }) };
      pictures.set(d.device_id, pic);
    }
    const label = labelText(shot.label);
    pic.el.alt = t("cameras.snapshot_alt", { name: d.name, label });
    const full = t("cameras.snapshot", { label, time: dateTime(shot.taken_at), ago: ago(shot.taken_at) });
    // A camera gone dark keeps its last picture, greyed, and says so: it is not what is there now.
    return h("figure", { dataset: { snapshot: d.device_id, online: String(d.online) } },
      h("button", { type: "button", class: `shot${d.online ? "" : " stale"}`, ariaLabel: `${d.name}: ${full}`, onclick: () => shotSheet(d, pic.src, full) }, pic.el),
      h("figcaption", {},
        h("span", { class: "title", text: d.name }),
        h("span", { class: "muted small", text: `${label} · ${dateTime(shot.taken_at)}` }),
        d.online ? null : h("span", { class: "small error-text", text: t("cameras.offline") })));
  }

  function shotSheet(d, src, caption) {
    sheet(d.name, (body) => {
      body.append(h("img", { class: "shot-full", src, alt: t("cameras.snapshot_alt", { name: d.name, label: caption }) }),
        h("p", { class: "muted small", text: caption }));
    });
  }

  // ---- live --------------------------------------------------------------------------

  function draw() {
    drawLights();
    drawProblems();
    drawShots();
  }

  // A street switched at once sends one event per light: draw once for the lot.
  let timer = null;
  const soon = () => {
    if (timer === null) timer = setTimeout(() => { timer = null; draw(); }, 60);
  };

  draw();
  loadShots();
  const off = store.on("devices", soon);
  const offArea = store.on("area", soon);
  return {
    cleanup: () => { off(); offArea(); clearTimeout(timer); },
    refresh: loadShots,
  };
}

/** "on", "off", "fault", "offline", or "unknown" for a light that has not said yet. */
function dotState(d) {
  const status = lightStatus(d);
  if (status === "off" && !d.state) return "unknown";
  return status;
}

function lightText(d) {
  const s = dotState(d);
  if (s === "offline") return d.last_seen ? t("light.offline_since", { ago: ago(d.last_seen) }) : t("light.offline");
  if (s === "fault") return t("light.fault", { fault: faultName(d.state.fault) });
  if (s === "unknown") return t("light.unknown");
  return describeLight(d.state.on, d.state.on ? d.state.level : null);
}

/** What is wrong with a device that is online, or null. */
function faultText(d) {
  const s = d.state || {};
  if (d.kind === "light" && s.fault) return t("light.fault", { fault: faultName(s.fault) });
  if (d.kind === "camera" && s.tampering) return t("cameras.tampering");
  if (d.kind === "camera" && s.storage && s.storage !== "ok") return t("cameras.storage", { s: t(`storage.${s.storage}`) });
  return null;
}

function faultName(code) {
  const key = `fault.${code}`;
  return t(key) === key ? code : t(key);
}

function labelText(label) {
  const key = `snapshot.label.${label}`;
  return t(key) === key ? label : t(key);
}

function legend() {
  const item = (cls, key) => h("span", {}, h("i", { class: cls, attrs: { "aria-hidden": "true" } }), t(key));
  return h("div", { class: "area-legend" },
    item("on", "area.legend_on"), item("off", "area.legend_off"), item("fault", "area.legend_fault"), item("offline", "area.legend_offline"));
}
