// Schedule steps and actions in words, from the API's data (never its English text).
import { clock } from "./format.js";
import { t } from "./i18n.js";

/** "Hoàng hôn + 15 phút" / "18:30" for a timetable step spec. */
export function describeSpec(step) {
  if (step.trigger === "clock") return (step.at || "").slice(0, 5);
  const sun = t(`trigger.${step.trigger}`);
  const off = step.offset_min || 0;
  if (!off) return sun;
  return t(off > 0 ? "step.after" : "step.before", { sun, m: Math.abs(off) });
}

/** "Bật 50 %" / "Tắt". */
export function describeLight(on, level) {
  if (!on) return t("light.off");
  return level === null || level === undefined ? t("light.on") : t("light.on_level", { n: level });
}

const SUN_STEP = /^(sunset|sunrise)(?: ([+-]) (\d+) min)?$/;

/** The step of a preview item (parsed from the hub's "sunset + 15 min" or "18:30"). */
export function describeStep(item) {
  if (item.kind === "announcement") return t("preview.one_off");
  if (item.kind === "broadcast") return t(`recurrence.${item.step.split(" ")[0]}`);
  const m = SUN_STEP.exec(item.step);
  if (!m) return t("trigger.clock");
  return describeSpec({ trigger: m[1], offset_min: m[2] ? (m[2] === "-" ? -1 : 1) * Number(m[3]) : 0 });
}

/** "sunset" or "sunrise" for a sun step of the preview, else null. */
export function sunOf(item) {
  const m = item.kind === "lighting" ? SUN_STEP.exec(item.step) : null;
  return m ? m[1] : null;
}

/** "Mặt trời lặn lúc 17:13": the real sun time a step was computed from. */
export function sunLine(item) {
  const sun = sunOf(item);
  return sun && item.sun_event_at ? t(`schedule.sun_${sun}`, { time: clock(item.sun_event_at) }) : null;
}

/** The action of a preview item: a light level, or a broadcast. */
export function describeAction(item) {
  if (item.kind === "broadcast" || item.kind === "announcement") return t("schedule.broadcast_action");
  const m = /^on(?: (\d+)%)?$/.exec(item.action);
  if (m) return describeLight(true, m[1] === undefined ? null : Number(m[1]));
  return describeLight(false);
}

/** A timetable's steps in one line. */
export function describeSteps(steps) {
  return steps.map((s) => `${describeSpec(s)}: ${describeLight(s.on, s.level)}`).join(" · ");
}

/** "T2, T3, …" or "Hằng ngày". */
export function describeWeekdays(days) {
  if (!days || days.length === 7) return t("weekday.every_day");
  return [...days].sort().map((d) => t(`weekday.short.${d}`)).join(", ");
}
