// Street lights by zone: switch one, a zone or all; dim; confirmed state and pending commands.
import { h, icon, mount } from "./dom.js";
import { ago } from "./format.js";
import { t } from "./i18n.js";
import { describeLight } from "./schedule-text.js";
import { lightStatus } from "./store.js";
import { confirmBox, fail, levelSlider, pageHead, segmented, sheet, switchButton, toast } from "./ui.js";

export function render(root, { store }) {
  const summary = h("p", { class: "muted small" });
  const groups = h("div");
  const rows = new Map(); // device_id -> { li, update }
  let layoutKey = "";

  mount(root,
    h("div", { class: "page-head" }, h("div", {}, h("h1", { text: t("lights.title") }), summary)),
    areaCard(store),
    groups);

  function layout() {
    const lights = store.list("light");
    const key = lights.map((d) => `${d.device_id}:${d.zone_id}:${d.name}`).join("|") + JSON.stringify(store.area && store.area.zones);
    if (key === layoutKey) return false;
    layoutKey = key;
    rows.clear();
    const byZone = new Map();
    for (const d of lights) {
      if (!byZone.has(d.zone_id)) byZone.set(d.zone_id, []);
      byZone.get(d.zone_id).push(d);
    }
    const zones = store.zones().filter((z) => byZone.has(z.id));
    const sections = zones.map((z) => zoneSection(z.id, z.name, byZone.get(z.id)));
    if (byZone.has(null)) sections.push(zoneSection(null, t("lights.no_zone"), byZone.get(null)));
    if (!lights.length) sections.push(h("div", { class: "card" }, h("p", { class: "empty", text: t("lights.none") })));
    mount(groups, sections);
    return true;
  }

  function zoneSection(zoneId, name, lights) {
    const count = h("span", { class: "meta" });
    const list = h("ul", { class: "list" });
    for (const d of lights) {
      const row = lightRow(store, d);
      rows.set(d.device_id, row);
      list.append(row.li);
    }
    const target = zoneId === null ? null : { zone_id: zoneId };
    const section = h("section", { class: "card flush", ariaLabel: name, dataset: { zone: zoneId === null ? "none" : String(zoneId) } },
      h("div", { class: "zone-head" },
        h("div", { class: "body" }, h("h2", { text: name }), count)),
      target ? h("div", { class: "zone-actions" },
        h("button", { class: "btn btn-sm", type: "button", text: t("lights.zone_on"), ariaLabel: t("lights.zone_on_named", { zone: name }), dataset: { zoneAction: "on" }, onclick: () => send(store, target, true, null) }),
        h("button", { class: "btn btn-sm", type: "button", text: t("lights.zone_off"), ariaLabel: t("lights.zone_off_named", { zone: name }), dataset: { zoneAction: "off" }, onclick: () => send(store, target, false, null) }),
        h("button", { class: "btn btn-sm", type: "button", text: t("lights.level"), ariaLabel: t("lights.level_named", { zone: name }), onclick: () => controlSheet(store, target, name, 100) })) : null,
      list);
    section.updateCount = () => {
      const on = lights.filter((d) => lightStatus(store.devices.get(d.device_id) || d) === "on").length;
      count.textContent = t("lights.zone_count", { on, n: lights.length });
    };
    return section;
  }

  function draw(id) {
    if (layout() || !id) {
      for (const row of rows.values()) row.update();
    } else if (rows.has(id)) {
      rows.get(id).update();
    }
    for (const s of groups.querySelectorAll("section")) if (s.updateCount) s.updateCount();
    const lights = store.list("light");
    const on = lights.filter((d) => lightStatus(d) === "on").length;
    summary.textContent = t("lights.summary", { on, n: lights.length });
  }

  draw();
  const off = store.on("devices", draw);
  const tick = setInterval(() => draw(), 30000); // "last seen … ago"
  return () => { off(); clearInterval(tick); };
}

function areaCard(store) {
  const target = { area: true };
  return h("section", { class: "card", ariaLabelledby: "all-h" },
    h("div", { class: "card-head" }, h("h2", { id: "all-h", text: t("lights.whole_area") })),
    h("div", { class: "grid2" },
      h("button", { class: "btn btn-primary", type: "button", text: t("lights.all_on"), dataset: { areaAction: "on" }, onclick: () => send(store, target, true, null) }),
      h("button", { class: "btn", type: "button", text: t("lights.all_off"), dataset: { areaAction: "off" }, onclick: () => allOff(store, target) })),
    h("button", {
      class: "btn btn-ghost btn-block", type: "button", text: t("lights.area_level"), style: { marginTop: "8px" },
      onclick: () => controlSheet(store, target, t("lights.whole_area"), 100),
    }));
}

/** Every light in the area dark at once is hard to undo at night: say how many, then ask. */
async function allOff(store, target) {
  const n = store.list("light").length;
  const ok = await confirmBox({
    title: t("lights.all_off_title"),
    message: t("lights.all_off_explain", { n }),
    confirm: t("lights.all_off_confirm", { n }),
    danger: true,
  });
  if (ok) send(store, target, false, null);
}

function pendingChip(store, id) {
  const p = store.pending.get(id);
  if (!p) return null;
  const d = store.devices.get(id);
  const want = describeLight(p.want.on, p.want.level);
  if (p.status === "sending") return h("span", { class: "pill info" }, h("span", { class: "spinner" }), t("command.sending"));
  if (p.status === "queued" || (d && !d.online)) return h("span", { class: "pill warn" }, icon("clock", 14), t("command.queued", { want }));
  if (p.status === "timed_out") return h("span", { class: "pill warn" }, icon("alert", 14), t("command.timed_out", { want }));
  if (p.status === "failed" || p.status === "expired") return h("span", { class: "pill bad" }, t(`command.${p.status}`));
  return h("span", { class: "pill info" }, h("span", { class: "spinner" }), t("command.pending", { want }));
}

function statusText(d) {
  const status = lightStatus(d);
  if (status === "offline") return d.last_seen ? t("light.offline_since", { ago: ago(d.last_seen) }) : t("light.offline");
  if (status === "fault") return t("light.fault", { fault: t(`fault.${d.state.fault}`) });
  if (!d.state) return t("light.unknown");
  return describeLight(d.state.on, d.state.on ? d.state.level : null);
}

function lightRow(store, initial) {
  const id = initial.device_id;
  const dot = h("span", { class: "dot" });
  const title = h("span", { class: "title" });
  const meta = h("span", { class: "meta" });
  const open = h("button", { class: "open", type: "button" }, dot, h("span", { class: "body" }, title, meta));
  const sw = switchButton(initial.name, false, (on) => send(store, { device_id: id }, on, null));
  const li = h("li", { class: "item light-row", dataset: { deviceId: id } }, open, sw);
  open.addEventListener("click", () => lightSheet(store, id));
  function update() {
    const d = store.devices.get(id);
    if (!d) return;
    const status = lightStatus(d);
    const p = store.pending.get(id);
    dot.className = `dot ${status}`;
    title.textContent = d.name;
    mount(meta, h("span", { text: statusText(d) }), pendingChip(store, id));
    open.setAttribute("aria-label", `${d.name}: ${statusText(d)}${p ? `, ${t("command.pending_short")}` : ""}`);
    // An offline light's last report is not what it does now (a power cut turned it off, say):
    // its switch is drawn neither on nor off until it speaks again; the row says "offline".
    const offline = status === "offline";
    const confirmedOn = !offline && Boolean(d.state && d.state.on);
    sw.setAttribute("aria-checked", String(p ? p.want.on : confirmedOn));
    sw.setAttribute("aria-label", d.name);
    sw.classList.toggle("pending", Boolean(p));
    sw.classList.toggle("unknown", offline && !p);
    sw.disabled = d.status !== "active";
    li.dataset.status = status;
    li.dataset.confirmed = d.state && !offline ? (d.state.on ? "on" : "off") : "unknown";
    li.dataset.level = d.state ? String(d.state.level) : "";
    li.dataset.pending = p ? p.status : "";
  }
  return { li, update };
}

/** Send a light command and say how it went. */
export async function send(store, target, on, level) {
  try {
    const answer = await store.setLights(target, on, level);
    const s = answer.summary;
    const total = answer.results.length;
    const confirmed = s.confirmed || 0;
    if (confirmed === total) toast(t("command.all_confirmed", { n: total }), "ok");
    else toast(t("command.some_pending", { ok: confirmed, n: total, pending: answer.pending.length }));
  } catch (err) {
    fail(err);
  }
}

function lightSheet(store, id) {
  const d = store.devices.get(id);
  if (!d) return;
  sheet(d.name, (body, close) => {
    const details = h("dl", { class: "kv" });
    const fill = () => {
      const cur = store.devices.get(id);
      const s = cur.state || {};
      mount(details,
        h("dt", { text: t("light.confirmed_state") }), h("dd", { text: statusText(cur) }),
        h("dt", { text: t("light.power") }), h("dd", { text: s.power_w !== undefined ? `${s.power_w} W` : "–" }),
        h("dt", { text: t("light.zone") }), h("dd", { text: store.zoneName(cur.zone_id) || t("lights.no_zone") }),
        h("dt", { text: t("light.last_seen") }), h("dd", { text: cur.last_seen ? ago(cur.last_seen) : "–" }),
        h("dt", { text: t("light.id") }), h("dd", { class: "small", text: cur.device_id }));
    };
    fill();
    const off = store.on("devices", (changed) => { if (!changed || changed === id) fill(); });
    body.closest("dialog").addEventListener("close", off);
    body.append(details);
    controls(body, store, { device_id: id }, d.state ? d.state.level || 100 : 100, d.state ? d.state.on : true, close);
  });
}

function controlSheet(store, target, name, level) {
  sheet(name, (body, close) => controls(body, store, target, level, true, close));
}

function controls(body, store, target, level, on, close) {
  let wantOn = on;
  let wantLevel = level;
  const slider = levelSlider(t("lights.brightness"), level, (v) => { wantLevel = v; });
  const toggle = segmented(t("lights.switch"), `onoff-${Math.random().toString(36).slice(2)}`, [
    { value: "on", label: t("light.on") },
    { value: "off", label: t("light.off") },
  ], on ? "on" : "off", (v) => {
    wantOn = v === "on";
    slider.input.disabled = !wantOn;
  });
  slider.input.disabled = !wantOn;
  body.append(toggle.el, slider.el,
    h("button", {
      class: "btn btn-primary btn-block btn-lg", type: "button", text: t("lights.apply"), dataset: { action: "apply" },
      onclick: () => { close(); send(store, target, wantOn, wantOn ? wantLevel : null); },
    }));
}
