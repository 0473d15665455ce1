// An audit row as words in the app's language, from the structured fields the hub sends
// (action code and params, target kind and name, outcome code and counts): never by
// reading the English ``result`` string. hub/audit_words.py words the CSV the same way.
import { getZone } from "./format.js";
import { t } from "./i18n.js";

/** ``key`` translated, or null when the table has no such key. */
function known(key, params) {
  const text = t(key, params);
  return text === key ? null : text;
}

/** "Bật đèn 70 %", "Phát thông báo"; an action the app does not know, by its code. */
export function actionText(a) {
  const p = a.params || {};
  if (a.action === "light.set") {
    if (p.on === false) return t("audit.light.off");
    if (p.level != null) return t(p.on ? "audit.light.on_level" : "audit.light.level", { level: p.level });
    return t("audit.light.on");
  }
  if (a.action === "speaker.volume" && p.level != null) return t("audit.speaker.volume_level", { level: p.level });
  return known(`audit.${a.action}`) || t("audit.unknown", { code: a.action });
}

/** The zone's, device's or area's name, the announcement's title; else its kind and number. */
export function targetText(a) {
  if (a.target_name) return a.target_name;
  if (a.target_kind && a.target_id) return known(`audit.kind.${a.target_kind}`, { id: a.target_id }) || a.target_id;
  return a.target_id || "";
}

/** "39 đã xác nhận, 1 đang chờ", "Đã huỷ"; what it cannot word, as the hub stored it. */
export function resultText(a) {
  if (a.counts) {
    return Object.entries(a.counts)
      .sort(([sa, na], [sb, nb]) => nb - na || sa.localeCompare(sb))
      .map(([status, n]) => known(`audit.n.${status}`, { n }) || `${n} ${status}`)
      .join(", ");
  }
  const values = a.outcome_values || {};
  if (a.outcome === "status") {
    const word = (s) => known(`audit.out.${s}`) || s;
    return t("audit.out.status", { from: word(values.from), to: word(values.to) });
  }
  return (a.outcome && known(`audit.out.${a.outcome}`, values)) || a.result || "";
}

/** Who did it: their display name; the hub itself as "Hệ thống". */
export function actorText(a) {
  return a.actor_name === "system" && a.actor === "system" ? t("audit.system") : a.actor_name || a.actor;
}

/** "04/12/2026 19:05" in the area's time zone. */
export function fullDateTime(value) {
  const f = new Intl.DateTimeFormat("en-GB", { timeZone: getZone(), day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const p = Object.fromEntries(f.formatToParts(new Date(value)).map((x) => [x.type, x.value]));
  return `${p.day}/${p.month}/${p.year} ${p.hour}:${p.minute}`;
}
