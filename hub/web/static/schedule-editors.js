// Editors: a lighting timetable (clock and sunset/sunrise steps) and a broadcast programme.
import { api } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { localNow, readClock } from "./format.js";
import { t } from "./i18n.js";
import { chips, clockInput, confirmBox, dateInput, fail, field, levelSlider, segmented, switchButton, toast } from "./ui.js";

const DAYS = [0, 1, 2, 3, 4, 5, 6];

function backLink(href) {
  return h("a", { class: "btn btn-ghost back", href }, icon("back", 20), t("action.back"));
}

function weekdayChips(selected) {
  return chips(t("schedule.weekdays"), DAYS.map((d) => ({ value: d, label: t(`weekday.short.${d}`) })), selected);
}

function zoneSelect(store, value) {
  return h("select", {},
    h("option", { value: "", text: t("broadcast.all_zones"), selected: value === null }),
    store.zones().map((z) => h("option", { value: String(z.id), text: z.name, selected: z.id === value })));
}

/** "Đang bật" row with a switch; returns { el, value() }. */
function enabledSwitch(initial) {
  let on = initial;
  const sw = switchButton(t("timetable.enabled"), on, (next) => {
    on = next;
    sw.setAttribute("aria-checked", String(next));
  });
  const el = h("div", { class: "item", style: { padding: "0 0 10px" } },
    h("span", { class: "body" }, h("span", { class: "title", text: t("timetable.enabled") }),
      h("span", { class: "meta", text: t("timetable.enabled_hint") })),
    sw);
  return { el, value: () => on };
}

// ---- timetables ----------------------------------------------------------------------------

const SUNSET_TEMPLATE = [
  { trigger: "sunset", offset_min: 0, on: true, level: 100 },
  { trigger: "clock", at: "23:00", on: true, level: 50 },
  { trigger: "sunrise", offset_min: 0, on: false, level: null },
];

function stepEditor(step, index, onRemove) {
  const trigger = h("select", {},
    ["sunset", "sunrise", "clock"].map((v) => h("option", { value: v, text: t(`trigger.${v}`), selected: step.trigger === v })));
  const at = clockInput(step.at ? step.at.slice(0, 5) : "18:00");
  const offset = h("input", { type: "number", min: -720, max: 720, step: 5, value: step.offset_min || 0, inputMode: "numeric" });
  const atField = field(t("step.at"), at);
  const offsetField = field(t("step.offset"), offset, t("step.offset_hint"));
  let on = step.on;
  const level = levelSlider(t("lights.brightness"), step.level ?? 100);
  const onOff = segmented(t("lights.switch"), `step-${index}-${Math.random().toString(36).slice(2)}`, [
    { value: "on", label: t("light.on") },
    { value: "off", label: t("light.off") },
  ], on ? "on" : "off", (v) => { on = v === "on"; level.el.hidden = !on; });
  level.el.hidden = !on;
  const showTrigger = () => {
    const clock = trigger.value === "clock";
    atField.hidden = !clock;
    offsetField.hidden = clock;
  };
  trigger.addEventListener("change", showTrigger);
  showTrigger();
  const el = h("div", { class: "step", dataset: { step: String(index) } },
    h("div", { class: "step-top" },
      h("h3", { text: t("step.n", { n: index + 1 }) }),
      h("button", { class: "btn btn-ghost btn-icon", type: "button", ariaLabel: t("step.remove", { n: index + 1 }), onclick: onRemove }, icon("trash", 20))),
    field(t("step.trigger"), trigger),
    atField, offsetField, onOff.el, level.el);
  return {
    el,
    value() {
      const spec = { trigger: trigger.value, on };
      // An untidy entry is kept as typed (so redrawing the steps loses nothing); save refuses it.
      if (trigger.value === "clock") spec.at = at.clock() || at.value;
      else spec.offset_min = Number(offset.value) || 0;
      if (on) spec.level = Number(level.input.value);
      return spec;
    },
  };
}

export function timetableEditor(root, { store, go }, id) {
  const isNew = !id || id === "new";
  const host = h("div");
  mount(root, backLink("#/schedules/lights"), host);
  const draw = (tt) => {
    const name = h("input", { type: "text", maxLength: 120, required: true, value: tt.name || "" });
    const zone = zoneSelect(store, tt.zone_id ?? null);
    zone.disabled = !isNew; // the hub keeps a timetable in its zone
    const days = weekdayChips(tt.weekdays || DAYS);
    const enabledRow = enabledSwitch(tt.enabled !== false);
    const steps = h("div");
    let editors = [];
    const setSteps = (list) => {
      editors = [];
      mount(steps);
      list.forEach((s) => addStep(s));
    };
    const addStep = (s) => {
      const index = editors.length;
      const editor = stepEditor(s, index, () => {
        const values = editors.map((e) => e.value());
        values.splice(editors.indexOf(editor), 1);
        setSteps(values);
      });
      editors.push(editor);
      steps.append(editor.el);
    };
    setSteps(tt.steps || SUNSET_TEMPLATE);
    const error = h("p", { class: "error-text", role: "alert" });
    const save = h("button", { class: "btn btn-primary btn-block btn-lg", type: "submit", text: t("action.save"), dataset: { action: "save-timetable" } });
    const form = h("form", { class: "card" },
      h("h1", { text: isNew ? t("timetable.new") : t("timetable.edit"), style: { marginBottom: "14px" } }),
      field(t("timetable.name"), name),
      field(t("timetable.zone"), zone, isNew ? null : t("timetable.zone_fixed")),
      h("h2", { text: t("timetable.steps"), style: { margin: "6px 0 10px" } }),
      steps,
      // One button a row, short labels, the template's steps said under it: side by side at
      // 360 px the template's label wrapped over three lines.
      h("div", { style: { display: "grid", gap: "8px", marginBottom: "16px" } },
        h("button", { class: "btn", type: "button", onclick: () => addStep({ trigger: "clock", at: "22:00", on: true, level: 50 }) }, icon("plus", 18), t("step.add")),
        h("button", { class: "btn", type: "button", text: t("timetable.template"), attrs: { "aria-describedby": "tt-template-hint" }, onclick: () => setSteps(SUNSET_TEMPLATE) }),
        h("p", { class: "hint muted small", id: "tt-template-hint", text: t("timetable.template_hint") })),
      days.el,
      enabledRow.el,
      error, save,
      isNew ? null : h("button", {
        class: "btn btn-danger-outline btn-block", type: "button", style: { marginTop: "10px" }, text: t("action.delete"),
        onclick: async () => {
          if (!(await confirmBox({ title: t("timetable.delete_title"), message: tt.name, confirm: t("action.delete"), danger: true }))) return;
          try {
            await api(`${store.base}/timetables/${id}`, { method: "DELETE" });
            toast(t("schedule.deleted"), "ok");
            go("schedules/lights");
          } catch (err) {
            fail(err);
          }
        },
      }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      if (!name.value.trim()) {
        error.textContent = t("timetable.need_name");
        name.focus();
        return;
      }
      const weekdays = days.values().map(Number);
      if (!weekdays.length) {
        error.textContent = t("schedule.need_day");
        return;
      }
      if (!editors.length) {
        error.textContent = t("timetable.need_step");
        return;
      }
      const json = { name: name.value.trim(), steps: editors.map((x) => x.value()), weekdays, enabled: enabledRow.value() };
      if (json.steps.some((x) => x.trigger === "clock" && !readClock(x.at))) {
        error.textContent = t("time.bad_clock");
        return;
      }
      if (isNew && zone.value) json.zone_id = Number(zone.value);
      save.disabled = true;
      try {
        await api(isNew ? `${store.base}/timetables` : `${store.base}/timetables/${id}`, { method: isNew ? "POST" : "PATCH", json });
        toast(t("schedule.saved"), "ok");
        go("schedules/tonight");
      } catch (err) {
        error.textContent = err.message;
        save.disabled = false;
      }
    });
    mount(host, form);
    if (isNew) name.focus();
  };
  if (isNew) draw({ name: t("timetable.default_name") });
  else api(`${store.base}/timetables/${id}`).then(draw, fail);
}

// ---- programmes ----------------------------------------------------------------------------

export function programmeEditor(root, { store, go }, id) {
  const isNew = !id || id === "new";
  const host = h("div");
  mount(root, backLink("#/schedules/programmes"), host);
  const draw = (p) => {
    const name = h("input", { type: "text", maxLength: 120, required: true, value: p.name || "" });
    const title = h("input", { type: "text", maxLength: 200, required: true, value: p.title || "" });
    const text = h("textarea", { maxLength: 2000, value: p.text || "" });
    const zoneIds = p.zone_ids || [];
    const zones = chips(t("broadcast.zones"), [
      { value: "all", label: t("broadcast.all_zones"), onChange: (on) => { if (on) for (const i of zones.inputs().slice(1)) i.checked = false; } },
      ...store.speakerZones().map((z) => ({ value: z.id, label: z.name, onChange: (on) => { if (on) zones.inputs()[0].checked = false; } })),
    ], zoneIds.length ? zoneIds : ["all"]);
    const priority = segmented(t("broadcast.priority"), "pg-priority", [
      { value: "normal", label: t("priority.normal") },
      { value: "priority", label: t("priority.priority") },
      { value: "emergency", label: t("priority.emergency"), className: "emergency" },
    ], p.priority || "normal", null, "danger");
    const recurrence = h("select", {},
      ["daily", "weekly", "monthly", "once"].map((v) => h("option", { value: v, text: t(`recurrence.${v}`), selected: (p.recurrence || "daily") === v })));
    const at = clockInput((p.at || "06:00").slice(0, 5), { required: true });
    const onDate = dateInput(p.on_date || localNow(24 * 60).date);
    const dom = h("input", { type: "number", min: 1, max: 31, value: p.day_of_month || 1, inputMode: "numeric" });
    const days = weekdayChips(p.weekdays || DAYS);
    const onDateField = field(t("programme.on_date"), onDate);
    const domField = field(t("programme.day_of_month"), dom);
    const showRecurrence = () => {
      onDateField.hidden = recurrence.value !== "once";
      domField.hidden = recurrence.value !== "monthly";
      days.el.hidden = recurrence.value !== "weekly";
    };
    recurrence.addEventListener("change", showRecurrence);
    showRecurrence();
    const enabledRow = enabledSwitch(p.enabled !== false);
    const error = h("p", { class: "error-text", role: "alert" });
    const save = h("button", { class: "btn btn-primary btn-block btn-lg", type: "submit", text: t("action.save") });
    const form = h("form", { class: "card" },
      h("h1", { text: isNew ? t("programme.new") : t("programme.edit"), style: { marginBottom: "14px" } }),
      field(t("programme.name"), name, t("programme.name_hint")),
      field(t("broadcast.title_label"), title),
      field(t("broadcast.text"), text, t("broadcast.text_hint")),
      zones.el, priority.el,
      h("div", { class: "split" }, field(t("programme.recurrence"), recurrence), field(t("programme.at"), at)),
      onDateField, domField, days.el,
      enabledRow.el,
      error, save,
      isNew ? null : h("button", {
        class: "btn btn-danger-outline btn-block", type: "button", style: { marginTop: "10px" }, text: t("action.delete"),
        onclick: async () => {
          if (!(await confirmBox({ title: t("programme.delete_title"), message: p.name, confirm: t("action.delete"), danger: true }))) return;
          try {
            await api(`${store.base}/programmes/${id}`, { method: "DELETE" });
            toast(t("schedule.deleted"), "ok");
            go("schedules/programmes");
          } catch (err) {
            fail(err);
          }
        },
      }));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      error.textContent = "";
      if (!name.value.trim() || !title.value.trim() || !text.value.trim()) {
        error.textContent = t("programme.need_fields");
        return;
      }
      const picked = zones.values();
      const json = {
        name: name.value.trim(), title: title.value.trim(), text: text.value.trim(),
        priority: priority.value(), recurrence: recurrence.value, at: at.clock(), enabled: enabledRow.value(),
        zone_ids: picked.includes("all") || !picked.length ? null : picked.map(Number),
      };
      if (!json.at) {
        error.textContent = t("time.bad_clock");
        return;
      }
      if (json.recurrence === "once") json.on_date = onDate.iso();
      if (json.recurrence === "once" && !json.on_date) {
        error.textContent = t("time.bad_date");
        return;
      }
      if (json.recurrence === "monthly") json.day_of_month = Number(dom.value);
      if (json.recurrence === "weekly") json.weekdays = days.values().map(Number);
      if (isNew && json.zone_ids === null) delete json.zone_ids;
      save.disabled = true;
      try {
        await api(isNew ? `${store.base}/programmes` : `${store.base}/programmes/${id}`, { method: isNew ? "POST" : "PATCH", json });
        toast(t("schedule.saved"), "ok");
        go("schedules/programmes");
      } catch (err) {
        error.textContent = err.message;
        save.disabled = false;
      }
    });
    mount(host, form);
  };
  if (isNew) draw({});
  else api(`${store.base}/programmes/${id}`).then(draw, fail);
}
