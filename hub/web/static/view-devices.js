// New devices: add one before it is installed (its broker account is shown once), or accept
// (name, zone) or reject one a gateway announced.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { ago, clock } from "./format.js";
import { t } from "./i18n.js";
import { confirmBox, empty, fail, field, hintOnMismatch, pageHead, toast } from "./ui.js";

const KINDS = ["light", "speaker", "camera", "gateway"];
const PROTOCOLS = ["native", "tasmota", "zigbee2mqtt", "esphome", "frigate"];

export function render(root, { store, me }) {
  const list = h("div");
  const canManage = me.role === "admin" || me.role === "head";
  const account = h("div");
  mount(root, pageHead(t("devices.title"), t("devices.subtitle")), account,
    canManage ? enrolCard() : null, canManage ? addCard() : null, list);

  /** The one moment the password is visible: the hub keeps no copy. */
  function showAccount(deviceId, mqtt) {
    if (!mqtt) return;
    const line = (label, value) => h("div", { class: "field" },
      h("span", { class: "label", text: label }),
      h("code", { class: "secret", text: value, dataset: { secret: label } }));
    mount(account, h("section", { class: "card", role: "alert", dataset: { deviceAccount: deviceId } },
      h("h2", { text: t("devices.account_title", { id: deviceId }) }),
      h("p", { class: "muted small", text: t("devices.account_once") }),
      line(t("devices.broker"), `${mqtt.host}:${mqtt.port}`),
      line(t("devices.username"), mqtt.username),
      line(t("devices.password"), mqtt.password),
      line(t("devices.client_id"), mqtt.client_id),
      mqtt.setup && mqtt.protocol !== "native" ? h("div", { class: "field" },
        h("span", { class: "label", text: t(`devices.setup.${mqtt.protocol}`) }),
        h("pre", { class: "secret", dataset: { setup: mqtt.protocol }, text: mqtt.setup.join("\n") })) : null,
      h("button", { class: "btn", type: "button", text: t("devices.account_done"), onclick: () => mount(account) })));
  }

  /** New devices announce themselves while the window is open; the head then accepts them. */
  function enrolCard() {
    const body = h("div");
    const card = h("section", { class: "card", dataset: { enrolment: "" } },
      h("h2", { text: t("enrol.title") }), h("p", { class: "muted small", text: t("enrol.explain") }), body);
    const openBtn = () => h("button", { class: "btn", type: "button", text: t("enrol.open"), onclick: open });
    async function open() {
      try {
        const w = await api(`${store.base}/enrolment`, { method: "POST", json: { minutes: 30 } });
        const line = (label, value, key) => h("div", { class: "field" },
          h("span", { class: "label", text: label }), h("code", { class: "secret", text: value, dataset: { enrol: key } }));
        mount(body,
          h("p", { class: "small", text: t("enrol.until", { time: clock(w.until) }) }),
          line(t("devices.broker"), `${w.host}:${w.port}`, "broker"),
          line(t("devices.username"), w.username, "username"),
          line(t("devices.password"), w.password, "password"),
          h("div", { class: "field" }, h("span", { class: "label", text: t("devices.setup.tasmota") }),
            h("pre", { class: "secret", dataset: { enrol: "tasmota" }, text: w.tasmota_backlog })),
          h("button", { class: "btn btn-danger-outline", type: "button", text: t("enrol.close"), onclick: close }));
      } catch (err) {
        fail(err);
      }
    }
    async function close() {
      try {
        await api(`${store.base}/enrolment`, { method: "DELETE" });
        mount(body, openBtn());
      } catch (err) {
        fail(err);
      }
    }
    api(`${store.base}/enrolment`).then((w) => mount(body, w.open
      ? h("div", {}, h("p", { class: "small", text: t("enrol.until", { time: clock(w.until) }) }),
        h("button", { class: "btn btn-danger-outline", type: "button", text: t("enrol.close"), onclick: close }))
      : openBtn())).catch(fail);
    return card;
  }

  function addCard() {
    const id = h("input", { type: "text", maxLength: 48, pattern: "[a-z0-9][a-z0-9_\\-]*", autocapitalize: "none", spellcheck: false, required: true });
    hintOnMismatch(id, "devices.id_invalid");
    const kind = h("select", {}, KINDS.map((k) => h("option", { value: k, text: t(`kind.${k}`) })));
    const protocol = h("select", { dataset: { protocol: "" } }, PROTOCOLS.map((p) => h("option", { value: p, text: t(`protocol.${p}`) })));
    // A Tasmota or ESPHome device is a light; a Zigbee2MQTT or Frigate is the bridge its devices come through.
    protocol.addEventListener("change", () => {
      const only = { tasmota: "light", esphome: "light", zigbee2mqtt: "gateway", frigate: "gateway" }[protocol.value];
      if (only) kind.value = only;
      kind.disabled = Boolean(only);
    });
    const name = h("input", { type: "text", maxLength: 120 });
    const zone = h("select", {},
      h("option", { value: "", text: t("devices.no_zone") }),
      store.zones().map((z) => h("option", { value: String(z.id), text: z.name })));
    const add = h("button", { class: "btn btn-primary", type: "submit", text: t("devices.add") });
    const form = h("form", { class: "card", dataset: { addDevice: "" } },
      h("h2", { text: t("devices.add_title") }),
      field(t("devices.id"), id, t("devices.id_hint")),
      field(t("devices.kind"), kind),
      field(t("devices.protocol"), protocol),
      field(t("devices.name"), name),
      field(t("devices.zone"), zone),
      add);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const json = { device_id: id.value.trim(), kind: kind.value, protocol: protocol.value };
      if (name.value.trim()) json.name = name.value.trim();
      if (zone.value) json.zone_id = Number(zone.value);
      add.disabled = true;
      try {
        const created = await api(`${store.base}/devices`, { method: "POST", json });
        showAccount(created.device_id, created.mqtt);
        form.reset();
        kind.disabled = false;
        store.reloadSoon();
      } catch (err) {
        fail(err);
      } finally {
        add.disabled = false;
      }
    });
    return form;
  }

  function draw() {
    const pending = store.pendingDevices();
    if (!pending.length) {
      mount(list, h("div", { class: "card" }, empty(t("devices.none"))));
      return;
    }
    // Keep cards someone is filling in; add new ones, drop the ones handled.
    const ids = new Set(pending.map((d) => d.device_id));
    for (const card of [...list.querySelectorAll("[data-pending-device]")]) if (!ids.has(card.dataset.pendingDevice)) card.remove();
    for (const child of [...list.children]) if (!child.dataset.pendingDevice) child.remove();
    for (const d of pending) {
      if (!list.querySelector(`[data-pending-device="${CSS.escape(d.device_id)}"]`)) list.append(card(d));
    }
  }

  function card(d) {
    const name = h("input", { type: "text", maxLength: 120, value: d.name || d.device_id });
    const zone = h("select", {},
      h("option", { value: "", text: t("devices.no_zone") }),
      store.zones().map((z) => h("option", { value: String(z.id), text: z.name, selected: z.id === d.zone_id })));
    const accept = h("button", { class: "btn btn-primary", type: "button", text: t("devices.accept"), disabled: !canManage, dataset: { action: "accept" } });
    const reject = h("button", { class: "btn btn-danger-outline", type: "button", text: t("devices.reject"), disabled: !canManage });
    accept.addEventListener("click", async () => {
      accept.disabled = true;
      const json = { name: name.value.trim() || d.device_id };
      if (zone.value) json.zone_id = Number(zone.value);
      try {
        const accepted = await api(`${store.base}/devices/${encodeURIComponent(d.device_id)}/accept`, { method: "POST", json });
        toast(t("devices.accepted", { name: json.name }), "ok");
        showAccount(d.device_id, accepted.mqtt);
        store.reloadSoon();
      } catch (err) {
        fail(err);
        accept.disabled = false;
      }
    });
    reject.addEventListener("click", async () => {
      if (!(await confirmBox({ title: t("devices.reject_title"), message: t("devices.reject_explain", { id: d.device_id }), confirm: t("devices.reject"), danger: true }))) return;
      try {
        await api(`${store.base}/devices/${encodeURIComponent(d.device_id)}/reject`, { method: "POST" });
        store.reloadSoon();
      } catch (err) {
        fail(err);
      }
    });
    return h("section", { class: "card", dataset: { pendingDevice: d.device_id } },
      h("div", { class: "card-head" },
        h("div", {}, h("h2", { text: d.device_id }),
          h("p", { class: "muted small", text: [t(`kind.${d.kind}`), d.model, d.firmware].filter(Boolean).join(" · ") })),
        h("span", { class: `pill ${d.online ? "ok" : ""}`, text: d.online ? t("cameras.online") : t("light.offline") })),
      d.last_seen ? h("p", { class: "muted small", style: { marginBottom: "10px" }, text: t("devices.seen", { ago: ago(d.last_seen) }) }) : null,
      field(t("devices.name"), name),
      field(t("devices.zone"), zone),
      canManage ? null : h("p", { class: "muted small", text: t("devices.head_only") }),
      h("div", { class: "grid2" }, reject, accept));
  }

  draw();
  const off = store.on("devices", () => draw());
  return off;
}
