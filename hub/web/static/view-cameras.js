// Cameras: incidents (outages that began together); online, recording, motion, tampering,
// storage; the latest snapshot (Frigate); last events; outage history.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { ago, dateTime, duration } from "./format.js";
import { t } from "./i18n.js";
import { incidentsCard } from "./incidents.js";
import { empty, fail, sheet } from "./ui.js";

export function render(root, { store }) {
  const list = h("div");
  let cameras = [];
  let shots = new Map(); // device_id -> { label, taken_at } of its latest snapshot
  const pictures = new Map(); // device_id -> { at, el }: kept across redraws, loaded once
  const sub = h("p", { class: "muted small" });
  const incidents = incidentsCard(store);
  mount(root, h("div", { class: "page-head" }, h("div", {}, h("h1", { text: t("cameras.title") }), sub)), incidents.card, list);

  async function load() {
    incidents.load();
    try {
      const [page, snaps] = await Promise.all([api(`${store.base}/cameras?events=5&limit=500`), api(`${store.base}/cameras/snapshots`)]);
      cameras = page.items;
      shots = new Map(snaps.map((s) => [s.device_id, s]));
    } catch (err) {
      if (err.status) fail(err);
    }
    draw();
  }

  function draw() {
    if (!cameras.length) {
      mount(list, h("div", { class: "card" }, empty(t("cameras.none"))));
      return;
    }
    const online = cameras.filter((c) => (store.devices.get(c.device_id) || c).online).length;
    sub.textContent = t("cameras.summary", { on: online, n: cameras.length });
    const sorted = [...cameras].sort((a, b) => Number(live(a).online) - Number(live(b).online) || a.name.localeCompare(b.name));
    mount(list, sorted.map((c) => cameraCard(store, c)));
  }

  function live(c) {
    const d = store.devices.get(c.device_id);
    return d ? { ...c, online: d.online, state: d.state || c.state, availability_at: d.availability_at || c.availability_at } : c;
  }

  function cameraCard(store, c0) {
    const c = live(c0);
    const s = c.state;
    const fresh = (store.events.get(c.device_id) || []).map((e) => ({ type: e.type, data: e, received_at: e.received_at }));
    const events = [...fresh, ...c.events].slice(0, 3);
    return h("section", { class: "card", dataset: { camera: c.device_id, online: String(c.online) } },
      h("div", { class: "card-head" },
        h("div", {}, h("h2", { text: c.name }),
          h("p", { class: "muted small", text: c.zone_id ? store.zoneName(c.zone_id) || "" : "" })),
        h("span", { class: `pill ${c.online ? "ok" : "bad"}`, text: c.online ? t("cameras.online") : t("cameras.offline") })),
      !c.online && c.availability_at ? h("p", { class: "small error-text", text: t("cameras.offline_since", { time: dateTime(c.availability_at), ago: ago(c.availability_at) }) }) : null,
      s && !c.online ? h("p", { class: "muted small", style: { marginTop: "6px" }, text: t("cameras.last_known") }) : null,
      s ? h("div", { class: `row-wrap${c.online ? "" : " stale"}`, style: { margin: "4px 0 10px" } },
        h("span", { class: `pill ${s.recording ? "ok" : "warn"}`, text: s.recording ? t("cameras.recording") : t("cameras.not_recording") }),
        s.motion ? h("span", { class: "pill info", text: t("cameras.motion") }) : null,
        s.tampering ? h("span", { class: "pill bad", text: t("cameras.tampering") }) : null,
        h("span", { class: `pill ${s.storage === "ok" ? "" : "warn"}`, text: t("cameras.storage", { s: t(`storage.${s.storage}`) }) }))
        : h("p", { class: "muted small", text: t("cameras.no_state") }),
      snapshotFigure(c),
      events.length ? h("ul", { class: "list small" }, events.map((e) => h("li", { class: "item", style: { minHeight: "40px", padding: "6px 0" } },
        h("span", { class: "body", text: eventText(e) }),
        h("span", { class: "muted nowrap", text: ago(e.received_at) }))))
        : h("p", { class: "muted small", text: t("cameras.no_events") }),
      h("button", { class: "btn btn-block", type: "button", style: { marginTop: "10px" }, text: t("cameras.outages"), onclick: () => outages(store, c) }));
  }

  function snapshotFigure(c) {
    const live = (store.devices.get(c.device_id) || {}).snapshot;
    const known = shots.get(c.device_id);
    const shot = live && (!known || Date.parse(live.taken_at) > Date.parse(known.taken_at)) ? live : known;
    if (!shot) return null;
    const at = Date.parse(shot.taken_at);
    let pic = pictures.get(c.device_id);
    if (!pic || pic.at !== at) {
      const src = `${store.base}/cameras/${encodeURIComponent(c.device_id)}/snapshot?at=${at}`;
      const style = { display: "block", width: "100%", aspectRatio: "16 / 9", objectFit: "contain", background: "#111", borderRadius: "10px" };
      pic = { at, el: h("img", { src, loading: "lazy", alt: "", style }) };
      pictures.set(c.device_id, pic);
    }
    const key = `snapshot.label.${shot.label}`;
    const label = t(key) === key ? shot.label : t(key);
    pic.el.alt = t("cameras.snapshot_alt", { name: c.name, label });
    return h("figure", { dataset: { snapshot: c.device_id }, style: { margin: "0 0 10px" } }, pic.el,
      h("figcaption", { class: "muted small", style: { marginTop: "4px" }, text: t("cameras.snapshot", { label, time: dateTime(shot.taken_at), ago: ago(shot.taken_at) }) }));
  }

  load();
  const off = store.on("devices", (id) => {
    if (!id || cameras.some((c) => c.device_id === id)) draw();
  });
  return { cleanup: off, refresh: load };
}

function eventText(e) {
  const data = e.data || {};
  if (e.type === "motion") return data.active === false ? t("event.motion_end") : t("event.motion");
  if (e.type === "tampering") return data.active === false ? t("event.tampering_end") : t("event.tampering");
  if (e.type === "storage") return t("event.storage", { s: t(`storage.${data.storage}`) });
  if (e.type === "detection") {
    const key = `snapshot.label.${data.label}`;
    const what = t(key) === key ? data.label : t(key);
    return t(data.active === false ? "event.detection_end" : "event.detection", { what });
  }
  return t("event.other", { type: e.type });
}

async function outages(store, c) {
  let page;
  try {
    page = await api(`${store.base}/cameras/${encodeURIComponent(c.device_id)}/outages?limit=50`);
  } catch (err) {
    fail(err);
    return;
  }
  sheet(t("cameras.outages_of", { name: c.name }), (body) => {
    body.append(page.items.length ? h("ul", { class: "list" }, page.items.map((o) => h("li", { class: "item", dataset: { outage: String(o.id) } },
      h("span", { class: "body" },
        h("span", { class: "title", text: dateTime(o.started_at) }),
        h("span", { class: "meta", text: o.ongoing ? t("cameras.ongoing") : t("cameras.back_at", { time: dateTime(o.ended_at) }) })),
      h("span", { class: `pill ${o.ongoing ? "bad" : ""}`, text: duration(o.duration_s) }))))
      : empty(t("cameras.no_outages")));
  });
}
