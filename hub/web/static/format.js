// Dates and times in the area's time zone, in the chosen language.
import { getLang, t } from "./i18n.js";

let zone = "Asia/Ho_Chi_Minh";

export function setZone(tz) {
  zone = tz || zone;
}

export function getZone() {
  return zone;
}

function locale() {
  return getLang() === "vi" ? "vi-VN" : "en-GB";
}

function asDate(value) {
  return value instanceof Date ? value : new Date(value);
}

/** "18:05" in the area's time. */
export function clock(value) {
  return new Intl.DateTimeFormat(locale(), { timeZone: zone, hour: "2-digit", minute: "2-digit", hour12: false }).format(asDate(value));
}

/** "18:05 12/03" (with the year when it is not this year), the way both languages read it here. */
export function dateTime(value) {
  const p = parts(asDate(value));
  const year = p.year === parts(new Date()).year ? "" : `/${p.year}`;
  return `${p.hour}:${p.minute} ${p.day}/${p.month}${year}`;
}

/** "Hôm nay", "Ngày mai" or the date, for grouping a timeline. */
export function dayLabel(value) {
  const d = parts(asDate(value));
  const today = parts(new Date());
  const tomorrow = parts(new Date(Date.now() + 86400000));
  if (d.key === today.key) return t("time.today");
  if (d.key === tomorrow.key) return t("time.tomorrow");
  return new Intl.DateTimeFormat(locale(), { timeZone: zone, weekday: "long", day: "2-digit", month: "2-digit" }).format(asDate(value));
}

/** "3 phút trước" / "3 minutes ago". */
export function ago(value) {
  const seconds = Math.round((asDate(value).getTime() - Date.now()) / 1000);
  const rtf = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  const abs = Math.abs(seconds);
  if (abs < 45) return t("time.just_now");
  if (abs < 3600) return rtf.format(Math.round(seconds / 60), "minute");
  if (abs < 86400) return rtf.format(Math.round(seconds / 3600), "hour");
  return rtf.format(Math.round(seconds / 86400), "day");
}

/** "1 giờ 5 phút" style durations. */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const hours = Math.floor(s / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  if (hours) return t("time.hours_minutes", { h: hours, m: minutes });
  if (minutes) return t("time.minutes", { m: minutes });
  return t("time.seconds", { s });
}

function parts(d) {
  const f = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  const p = Object.fromEntries(f.formatToParts(d).filter((x) => x.type !== "literal").map((x) => [x.type, x.value]));
  const hour = p.hour === "24" ? "00" : p.hour;
  return { ...p, hour, key: `${p.year}-${p.month}-${p.day}` };
}

/** Today's date and the time now in the area, as input values ("2025-03-12", "18:05"). */
export function localNow(offsetMinutes = 0) {
  const p = parts(new Date(Date.now() + offsetMinutes * 60000));
  return { date: p.key, time: `${p.hour}:${p.minute}` };
}

/** The instant of a wall-clock date and time in the area's zone (DST-safe: two passes). */
export function zonedToUtc(date, time) {
  const [y, mo, d] = date.split("-").map(Number);
  const [hh, mm] = time.split(":").map(Number);
  const wanted = Date.UTC(y, mo - 1, d, hh, mm);
  let guess = wanted;
  for (let i = 0; i < 2; i += 1) {
    const p = parts(new Date(guess));
    const shown = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute);
    guess += wanted - shown;
  }
  return new Date(guess);
}

/** "GMT+7" for the area's zone, shown beside time inputs. */
export function zoneLabel() {
  const f = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "short" });
  const name = f.formatToParts(new Date()).find((x) => x.type === "timeZoneName");
  return name ? name.value : zone;
}
