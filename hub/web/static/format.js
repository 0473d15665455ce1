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

/** A number with ``digits`` decimals in the language's way ("0,4" in Vietnamese). */
export function decimal(value, digits = 1) {
  return new Intl.NumberFormat(locale(), { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
}

/** How long to wait, rounded up to whole minutes past one ("5 phút", "40 giây"). */
export function waitFor(seconds) {
  const s = Math.max(1, Math.ceil(seconds));
  return s < 60 ? t("time.seconds", { s }) : duration(Math.ceil(s / 60) * 60);
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

// Typed dates and times. The browser's own date and time pickers draw "01:32 PM" and
// MM/DD/YYYY from the phone's system locale, whatever the page's language, and their
// minimum width pushed a 360 px page sideways; so the app's fields are plain text in the
// one form people here write: 24-hour "19:30" and day-first "05/12/2026".

/** "2026-12-05" (an input's value for the API) → "05/12/2026". */
export function showDate(iso) {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
  return m ? `${m[3]}/${m[2]}/${m[1]}` : "";
}

/** What someone typed as a date ("5/12/2026", "05-12-2026", "05.12.2026") → "2026-12-05", or null. */
export function readDate(text) {
  const m = /^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})\s*$/.exec(text || "");
  if (!m) return null;
  const [d, mo, y] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const probe = new Date(Date.UTC(y, mo - 1, d));
  if (probe.getUTCFullYear() !== y || probe.getUTCMonth() !== mo - 1 || probe.getUTCDate() !== d) return null;
  return `${m[3]}-${String(mo).padStart(2, "0")}-${String(d).padStart(2, "0")}`;
}

/** What someone typed as a time ("6:30", "0630", "6h30", "18") → "06:30", or null. */
export function readClock(text) {
  const m = /^\s*(\d{1,2})(?:\s*[:hH.]\s*(\d{2})?|(\d{2}))?\s*$/.exec(text || "");
  if (!m) return null;
  const hour = Number(m[1]);
  const minute = Number(m[2] ?? m[3] ?? 0);
  if (hour > 23 || minute > 59) return null;
  return `${String(hour).padStart(2, "0")}:${String(minute).padStart(2, "0")}`;
}
