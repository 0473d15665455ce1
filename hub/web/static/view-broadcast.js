// Broadcasts: type a text (or start from a template), record a voice or pick a file, choose zones
// and priority, now or later; follow it live.
import { api, localAudio } from "./api.js";
import { h, mount } from "./dom.js";
import { confirmEmergencyBroadcast, emergencyCard } from "./emergency.js";
import { dateTime, localNow, zonedToUtc, zoneLabel } from "./format.js";
import { t } from "./i18n.js";
import { chips, clockInput, dateInput, fail, field, pageHead, segmented, toast } from "./ui.js";
import { announcementSheet, coverageBlock, statusPill } from "./broadcast-parts.js";
import { confirmOffline, deviceName, noSpeakersLine, reach, sentToast, statusLine } from "./broadcast-reach.js";
import { firstBlank, templateButton } from "./templates.js";
import { recorder } from "./voice.js";

const OPEN = new Set(["scheduled", "queued", "playing"]);

export function render(root, { store }) {
  const live = h("div", { dataset: { live: "broadcast" } });
  const recent = h("ul", { class: "list" });
  let watching = null;

  mount(root,
    pageHead(t("broadcast.title"), t("broadcast.subtitle")),
    live,
    composeCard(store, (ann) => {
      watch(ann);
      loadRecent();
      live.scrollIntoView({ block: "start" });
    }),
    h("section", { class: "card flush", ariaLabelledby: "recent-h" },
      h("div", { class: "card-head" },
        h("h2", { id: "recent-h", text: t("broadcast.recent") }),
        h("a", { class: "btn btn-ghost btn-sm", href: "#/logs/broadcasts", text: t("overview.see_all") })),
      recent),
    emergencyCard(store));

  function watch(ann) {
    if (watching) watching.stop();
    watching = liveCard(store, ann, live, loadRecent);
  }

  async function loadRecent() {
    try {
      const page = await api(`${store.base}/announcements?limit=8`);
      mount(recent, page.items.length
        ? page.items.map((a) => h("li", {}, h("button", {
          class: "item", type: "button", dataset: { announcement: a.id }, onclick: () => announcementSheet(store, a.id),
        },
        h("span", { class: "body" },
          h("span", { class: "title", text: a.title }),
          h("span", { class: "meta" }, statusPill(a.status), h("span", { text: dateTime(a.start_at || a.not_before) }),
            a.coverage ? h("span", { class: "num", text: t("coverage.short", { p: a.coverage.percent }) }) : null)))))
        : h("li", {}, h("p", { class: "empty", text: t("broadcast.none") })));
      const open = page.items.find((a) => OPEN.has(a.status) && a.status !== "scheduled");
      if (open && !watching) watch(open);
    } catch {
      // unreachable: the banner says so
    }
  }

  loadRecent();
  return {
    cleanup: () => { if (watching) watching.stop(); },
    refresh: loadRecent,
  };
}

function composeCard(store, onSent) {
  const title = h("input", { type: "text", maxLength: 200, required: true, placeholder: t("broadcast.title_placeholder") });
  const text = h("textarea", { maxLength: 5000, placeholder: t("broadcast.text_placeholder") });
  const file = h("input", { type: "file", accept: ".wav,.mp3,.ogg,.webm,.m4a,audio/wav,audio/mpeg,audio/ogg,audio/webm,audio/mp4" });
  const textField = field(t("broadcast.text"), text, t("broadcast.text_hint"));
  const fileField = field(t("broadcast.file"), file, t("broadcast.file_hint"));
  fileField.hidden = true;
  const voice = recorder();
  const voiceField = h("div", { class: "field", dataset: { field: "voice" } }, voice.el);
  voiceField.hidden = true;
  const mode = segmented(t("broadcast.content"), "bc-mode", [
    { value: "text", label: t("broadcast.mode_text") },
    { value: "voice", label: t("broadcast.mode_voice") },
    { value: "audio", label: t("broadcast.mode_audio") },
  ], "text", (v) => { textField.hidden = v !== "text"; voiceField.hidden = v !== "voice"; fileField.hidden = v !== "audio"; });

  const zones = store.speakerZones();
  const zonePick = chips(t("broadcast.zones"), [
    { value: "all", label: t("broadcast.all_zones"), onChange: (on) => { if (on) for (const i of zonePick.inputs().slice(1)) i.checked = false; } },
    ...zones.map((z) => ({ value: z.id, label: z.name, onChange: (on) => { if (on) zonePick.inputs()[0].checked = false; } })),
  ], ["all"]);

  const priorityHint = h("p", { class: "hint muted small", style: { marginTop: "-6px", marginBottom: "14px" }, text: t("priority.hint.normal") });
  const priority = segmented(t("broadcast.priority"), "bc-priority", [
    { value: "normal", label: t("priority.normal") },
    { value: "priority", label: t("priority.priority") },
    { value: "emergency", label: t("priority.emergency"), className: "emergency" },
  ], "normal", (v) => { priorityHint.textContent = t(`priority.hint.${v}`); }, "danger");

  const soon = localNow(30);
  const date = dateInput(soon.date);
  const time = clockInput(soon.time);
  const whenFields = h("div", { class: "split" }, field(t("broadcast.date"), date), field(t("broadcast.time_zone", { zone: zoneLabel() }), time));
  whenFields.hidden = true;
  const submit = h("button", { class: "btn btn-primary btn-block btn-lg", type: "submit", text: t("broadcast.send_now"), dataset: { action: "send-broadcast" } });
  const when = segmented(t("broadcast.when"), "bc-when", [
    { value: "now", label: t("broadcast.now") },
    { value: "later", label: t("broadcast.later") },
  ], "now", (v) => {
    whenFields.hidden = v !== "later";
    submit.textContent = v === "later" ? t("broadcast.schedule") : t("broadcast.send_now");
  });
  const error = h("p", { class: "error-text", role: "alert" });

  const form = h("form", { class: "card", ariaLabelledby: "compose-h" },
    h("div", { class: "card-head", style: { marginBottom: "14px" } },
      h("h2", { id: "compose-h", text: t("broadcast.new") }),
      templateButton({ title, text, priority, mode })),
    field(t("broadcast.title_label"), title),
    mode.el, textField, voiceField, fileField,
    zonePick.el, priority.el, priorityHint, when.el, whenFields, error, submit);

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    if (!title.value.trim()) {
      error.textContent = t("broadcast.need_title");
      title.focus();
      return;
    }
    // A template's [blank] read out as is would tell residents nothing: have it filled first.
    const blank = mode.value() === "text" ? firstBlank(`${title.value}\n${text.value}`) : null;
    if (blank) {
      error.textContent = t("template.fill_blank", { blank: blank.text });
      const inTitle = blank.start < title.value.length;
      const box = inTitle ? title : text;
      const at = inTitle ? blank.start : blank.start - title.value.length - 1;
      box.focus();
      box.setSelectionRange(at, at + blank.text.length);
      return;
    }
    const json = { title: title.value.trim(), priority: priority.value() };
    const picked = zonePick.values();
    if (!picked.length) {
      error.textContent = t("broadcast.need_zone");
      return;
    }
    if (!picked.includes("all")) json.zone_ids = picked.map(Number);
    if (when.value() === "later") {
      if (!date.iso()) {
        error.textContent = t("time.bad_date");
        date.focus();
        return;
      }
      if (!time.clock()) {
        error.textContent = t("time.bad_clock");
        time.focus();
        return;
      }
      const at = zonedToUtc(date.iso(), time.clock());
      if (Number.isNaN(at.getTime()) || at.getTime() < Date.now()) {
        error.textContent = t("broadcast.past_time");
        return;
      }
      json.start_at = at.toISOString();
    }
    // Speakers offline now may be back by a later start: only a broadcast for now is warned.
    const going = reach(store, json.zone_ids || null);
    if (!json.start_at && !(await confirmOffline(going))) return;
    if (json.priority === "emergency") {
      // Picking "Khẩn cấp" here must not be one tap short of the emergency button's two steps.
      const sure = await confirmEmergencyBroadcast(store, {
        title: json.title,
        text: mode.value() === "text" ? text.value.trim() : "",
        zoneIds: json.zone_ids || null,
        at: json.start_at ? new Date(json.start_at) : null,
      });
      if (!sure) return;
    }
    submit.disabled = true;
    try {
      if (mode.value() === "audio") {
        if (!file.files.length) throw new Error(t("broadcast.need_file"));
        const form = new FormData();
        form.append("file", file.files[0]);
        const audio = await api(`${store.base}/audio`, { method: "POST", form });
        json.audio_id = audio.id;
      } else if (mode.value() === "voice") {
        const rec = voice.recording();
        if (!rec) throw new Error(t(voice.state() === "recorded" ? "voice.need_use" : "voice.need_recording"));
        const form = new FormData();
        form.append("file", rec.blob, rec.name);
        const audio = await api(`${store.base}/audio`, { method: "POST", form });
        json.audio_id = audio.id;
      } else {
        if (!text.value.trim()) throw new Error(t("broadcast.need_text"));
        json.text = text.value.trim();
      }
      const ann = await api(`${store.base}/announcements`, { method: "POST", json });
      toast(...sentToast(ann, going));
      title.value = "";
      text.value = "";
      file.value = "";
      voice.reset();
      onSent(ann);
    } catch (err) {
      error.textContent = err.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

/** Follow one announcement: each speaker starting and finishing, then the coverage. */
function liveCard(store, first, host, onDone) {
  let ann = first;
  let timer = null;
  let stopped = false;
  const speakers = h("ul", { class: "list" });
  const head = h("div", { class: "card-head" });
  const extra = h("div");
  const card = h("section", { class: "card flush", ariaLabelledby: "live-h", dataset: { watch: ann.id }, attrs: { "aria-live": "polite" } },
    head, speakers, h("div", { style: { padding: "0 16px 16px" } }, extra));
  mount(host, card);

  function speakerState(id, delivery) {
    const d = store.devices.get(id);
    const s = d && d.state;
    if (s && s.announcement === ann.id) {
      if (s.playback === "playing") return "playing";
      if (s.playback === "finished") return "finished";
      if (s.playback === "scheduled") return "scheduled";
    }
    return delivery ? delivery.status : "waiting";
  }

  function draw() {
    const deliveries = ann.deliveries || [];
    mount(head, h("div", {},
      h("h2", { id: "live-h", text: ann.title }),
      statusLine(ann) ? h("p", {
        class: ann.status === "failed" ? "small" : "muted small", dataset: { statusLine: ann.status }, text: statusLine(ann),
        style: ann.status === "failed" ? { color: "var(--danger-dark)" } : null,
      }) : null),
    statusPill(ann.status));
    mount(speakers, deliveries.map((dl) => {
      const st = speakerState(dl.device_id, dl);
      const d = store.devices.get(dl.device_id);
      const tone = { playing: "info", finished: "ok", offline: "warn", failed: "bad", no_answer: "bad", interrupted: "warn", stopped: "warn" }[st] || "";
      return h("li", { class: "item speaker-row", dataset: { speaker: dl.device_id, state: st } },
        h("span", { class: `dot ${d && d.online ? "ok" : "offline"}` }),
        h("span", { class: "body" }, h("span", { class: "title", text: deviceName(store, dl.device_id) })),
        h("span", { class: `pill ${tone}` }, st === "playing" ? h("span", { class: "spinner" }) : null, t(`delivery.${st}`)));
    }));
    if (!deliveries.length) mount(speakers, noSpeakersLine(ann) ? h("li", {}, h("p", { class: "empty", text: noSpeakersLine(ann) })) : null);
    mount(extra,
      ann.coverage ? coverageBlock(ann.coverage, !OPEN.has(ann.status), (id) => deviceName(store, id)) : null,
      OPEN.has(ann.status) ? h("button", {
        class: "btn btn-danger-outline btn-block", type: "button", style: { marginTop: "12px" },
        text: ann.status === "playing" ? t("broadcast.stop") : t("broadcast.cancel"),
        onclick: async () => {
          try {
            ann = await api(`${store.base}/announcements/${ann.id}/cancel`, { method: "POST" });
            draw();
          } catch (err) {
            fail(err);
          }
        },
      }) : null,
      ann.audio_url && localAudio(ann.audio_url) ? h("audio", { controls: true, preload: "none", src: localAudio(ann.audio_url), style: { width: "100%", marginTop: "12px" }, ariaLabel: t("feed.listen") }) : null);
  }

  async function poll() {
    if (stopped) return;
    try {
      ann = await api(`${store.base}/announcements/${ann.id}`);
      draw();
    } catch {
      // try again
    }
    if (stopped) return;
    if (OPEN.has(ann.status)) timer = setTimeout(poll, ann.status === "scheduled" ? 10000 : 1000);
    else onDone();
  }

  draw();
  const off = store.on("devices", (id) => { if (!id || (ann.deliveries || []).some((d) => d.device_id === id)) draw(); });
  poll();
  return { stop: () => { stopped = true; clearTimeout(timer); off(); } };
}
