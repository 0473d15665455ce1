// One area's live picture: devices with confirmed state, commands still pending, emergency.
import { all, api, follow, randomKey } from "./api.js";

const TERMINAL_BAD = new Set(["timed_out", "expired", "failed"]);

export class AreaStore {
  constructor(code, role) {
    this.code = code;
    this.role = role;
    this.base = `/api/v1/areas/${encodeURIComponent(code)}`;
    this.area = null; // AreaSummary
    this.devices = new Map();
    this.pending = new Map(); // device_id -> { command_id, status, want }
    this.events = new Map(); // camera device_id -> newest events first
    this.emergency = { active: false };
    this.listeners = new Map();
    this.streams = [];
    this.reloadTimer = null;
    this.replay = null;
    this.emergencyTimer = null;
    this.feed = []; // the feed's latest items, kept for opening without the hub
    this.loading = false; // the first load has not answered yet
    this.fromPicture = false; // shown from the picture kept on the phone: read-only
    this.closed = false;
  }

  /** Fill the store from the picture kept on the phone (opened while the hub is unreachable). */
  hydrate(picture) {
    this.fromPicture = true;
    this.area = picture.area || null;
    this.devices = new Map((picture.devices || []).map((d) => [d.device_id, d]));
    this.emergency = picture.emergency || { active: false };
    this.feed = picture.feed || [];
  }

  get staff() {
    return this.role !== "resident";
  }

  // ---- events --------------------------------------------------------------------------

  /** Subscribe to "devices", "emergency", "notification", "staff_notification", "area"; returns unsubscribe. */
  on(name, fn) {
    if (!this.listeners.has(name)) this.listeners.set(name, new Set());
    const set = this.listeners.get(name);
    set.add(fn);
    return () => set.delete(fn);
  }

  emit(name, data) {
    for (const fn of this.listeners.get(name) || []) {
      try {
        fn(data);
      } catch (err) {
        console.error(err); // one broken view must not stop the others
      }
    }
  }

  // ---- loading -------------------------------------------------------------------------

  async load() {
    // Live events that arrive while the lists load may be newer than what the lists say:
    // they are applied at once and again on top of the fresh lists.
    const replay = [];
    this.replay = replay;
    let devices;
    let emergency;
    try {
      this.area = await api(this.base);
      this.emit("area", this.area);
      if (!this.staff) {
        this.fromPicture = false;
        return;
      }
      [devices, emergency] = await Promise.all([all(`${this.base}/devices`), api(`${this.base}/emergency`)]);
    } finally {
      if (this.replay === replay) this.replay = null;
    }
    this.devices = new Map(devices.map((d) => [d.device_id, d]));
    for (const apply of replay) apply();
    for (const [id, p] of this.pending) {
      const d = this.devices.get(id);
      if (d && d.state && d.state.cmd === p.command_id) this.pending.delete(id);
    }
    this.fromPicture = false;
    this.emit("devices");
    this.setEmergency(emergency);
  }

  /** Remember the feed's latest items (newest first) for the picture kept on the phone. */
  keepFeed(items) {
    this.feed = items.slice(0, 30);
    this.emit("feed_kept");
  }

  reloadSoon() {
    clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => this.load().catch(() => {}), 150);
  }

  setEmergency(state) {
    this.emergency = state || { active: false };
    this.emit("emergency", this.emergency);
  }

  /** Open the live streams: device updates (staff) and the notification feed. */
  connect() {
    const live = (fn) => (e) => {
      fn(e);
      if (this.replay) this.replay.push(() => fn(e));
    };
    if (this.staff) {
      this.watchEmergency();
      this.streams.push(follow(`${this.base}/stream`, {
        hello: () => this.reloadSoon(),
        resync: () => this.reloadSoon(),
        availability: live((e) => this.patch(e.device_id, { online: e.online, availability_at: new Date().toISOString() })),
        state: live((e) => this.onState(e)),
        command: live((e) => this.onCommand(e)),
        device: live((e) => this.onDevice(e)),
        event: (e) => this.onEvent(e),
        emergency: (e) => this.setEmergency(e),
      }));
    }
    this.streams.push(follow(`${this.base}/notifications/stream`, {
      hello: (e) => this.emit("feed_hello", e),
      resync: () => this.emit("feed_hello", {}),
      notification: (e) => this.emit("notification", e),
      staff_notification: (e) => this.emit("staff_notification", e),
    }));
  }

  /** The live stream says when emergency mode changes; a look every 20 s covers a missed event. */
  watchEmergency() {
    this.emergencyTimer = setInterval(async () => {
      try {
        const state = await api(`${this.base}/emergency`);
        if (Boolean(state.active) !== Boolean(this.emergency.active)) this.setEmergency(state);
      } catch {
        // unreachable: the banner says so
      }
    }, 20000);
  }

  revive() {
    for (const s of this.streams) s.revive();
  }

  close() {
    this.closed = true;
    for (const s of this.streams) s.close();
    this.streams = [];
    clearTimeout(this.reloadTimer);
    clearInterval(this.emergencyTimer);
    this.listeners.clear();
  }

  // ---- live updates --------------------------------------------------------------------

  patch(id, fields) {
    const d = this.devices.get(id);
    if (!d) {
      this.reloadSoon(); // a device we have not seen yet
      return;
    }
    Object.assign(d, fields);
    this.emit("devices", id);
  }

  onState(e) {
    const p = this.pending.get(e.device_id);
    if (p && e.state && e.state.cmd === p.command_id) this.pending.delete(e.device_id);
    this.patch(e.device_id, { state: e.state, last_seen: new Date().toISOString() });
  }

  onCommand(e) {
    const p = this.pending.get(e.device_id);
    if (!p || p.command_id !== e.command_id) return;
    if (e.status === "confirmed") this.pending.delete(e.device_id);
    else p.status = e.status;
    if (e.state) this.patch(e.device_id, { state: e.state });
    else this.emit("devices", e.device_id);
  }

  onDevice(e) {
    const { device_id: id, kind, ...fields } = e;
    if (!this.devices.has(id)) this.reloadSoon();
    else this.patch(id, fields);
  }

  onEvent(e) {
    const list = this.events.get(e.device_id) || [];
    list.unshift({ ...e.event, received_at: new Date().toISOString() });
    this.events.set(e.device_id, list.slice(0, 10));
    this.emit("devices", e.device_id);
  }

  // ---- queries -------------------------------------------------------------------------

  list(kind, { active = true } = {}) {
    return [...this.devices.values()].filter((d) => d.kind === kind && (!active || d.status === "active"));
  }

  pendingDevices() {
    return [...this.devices.values()].filter((d) => d.status === "pending");
  }

  /** The area's zones in Vietnamese alphabetical order ("Đường" after "Dịch", numbers by value). */
  zones() {
    const collator = new Intl.Collator("vi", { numeric: true });
    return [...(this.area ? this.area.zones : [])].sort((a, b) => collator.compare(a.name, b.name));
  }

  /** Zones with loudspeakers (every zone when no speaker has one). */
  speakerZones() {
    const withSpeakers = new Set(this.list("speaker").map((d) => d.zone_id).filter((z) => z !== null));
    return this.zones().filter((z) => !withSpeakers.size || withSpeakers.has(z.id));
  }

  zoneName(id) {
    const z = this.area && this.area.zones.find((x) => x.id === id);
    return z ? z.name : null;
  }

  // ---- commands ------------------------------------------------------------------------

  /** Switch or dim lights; returns the hub's answer and tracks what is not yet confirmed. */
  async setLights(target, on, level) {
    const action = { type: "light.set", on };
    if (on && level !== undefined && level !== null) action.level = level;
    const affected = target.device_id
      ? [target.device_id]
      : this.list("light").filter((d) => target.area || d.zone_id === target.zone_id).map((d) => d.device_id);
    for (const id of affected) this.pending.set(id, { command_id: null, status: "sending", want: { on, level } });
    this.emit("devices");
    let answer;
    try {
      answer = await api(`${this.base}/commands`, {
        method: "POST",
        json: { target, action },
        headers: { "Idempotency-Key": randomKey() },
      });
    } catch (err) {
      for (const id of affected) this.pending.delete(id);
      this.emit("devices");
      throw err;
    }
    for (const r of answer.results) {
      if (r.status === "confirmed") {
        this.pending.delete(r.device_id);
        if (r.state) this.patch(r.device_id, { state: r.state });
      } else {
        const d = this.devices.get(r.device_id);
        if (d && d.state && d.state.cmd === r.command_id) this.pending.delete(r.device_id);
        else this.pending.set(r.device_id, { command_id: r.command_id, status: r.status, want: { on, level } });
      }
    }
    for (const id of affected) {
      const p = this.pending.get(id);
      if (p && p.command_id === null) this.pending.delete(id);
    }
    this.emit("devices");
    return answer;
  }

  isStuck(id) {
    const p = this.pending.get(id);
    return Boolean(p && TERMINAL_BAD.has(p.status));
  }
}

/** What a light shows: "on", "off", "fault" or "offline" (from confirmed state only). */
export function lightStatus(d) {
  if (!d.online) return "offline";
  if (d.state && d.state.fault) return "fault";
  if (d.state && d.state.on) return "on";
  return "off";
}
