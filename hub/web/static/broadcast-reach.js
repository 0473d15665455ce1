// Which of the chosen speakers can play: the warning before sending, plain words after it.
import { h } from "./dom.js";
import { dateTime } from "./format.js";
import { t } from "./i18n.js";
import { confirmBox } from "./ui.js";

const OPEN = new Set(["scheduled", "queued", "playing"]);
// A dialog on a 360 px phone: past this many names, "và 12 loa khác".
const NAMES_SHOWN = 8;

/** A device's name for people, its id when it has none (or is not in the store). */
export function deviceName(store, id) {
  const d = store.devices.get(id);
  return (d && d.name) || id;
}

/** The speakers a broadcast to ``zoneIds`` (null: every zone) goes to, and those offline now. */
export function reach(store, zoneIds) {
  const targets = store.list("speaker").filter((d) => !zoneIds || zoneIds.includes(d.zone_id));
  return { targets, offline: targets.filter((d) => !d.online) };
}

/** Ask before sending to speakers that are offline now; resolves true to send. */
export function confirmOffline({ targets, offline }) {
  if (!offline.length) return Promise.resolve(true);
  const none = offline.length === targets.length;
  const names = offline.slice(0, NAMES_SHOWN).map((d) => h("li", { text: d.name || d.device_id }));
  if (offline.length > NAMES_SHOWN) names.push(h("li", { text: t("reach.and_more", { n: offline.length - NAMES_SHOWN }) }));
  return confirmBox({
    title: none ? t("reach.none_title") : t("reach.some_title", { n: offline.length, total: targets.length }),
    message: none ? t("reach.none_message", { n: targets.length }) : t("reach.some_message", { n: offline.length }),
    details: h("ul", {
      class: "stack", dataset: { offlineSpeakers: String(offline.length) },
      style: { margin: "8px 0 0", paddingLeft: "20px", overflowWrap: "anywhere" },
    }, names),
    confirm: none ? t("reach.send_anyway") : t("reach.send_rest", { n: targets.length - offline.length }),
  });
}

/** The toast after sending: green only when every chosen speaker is there to play it. */
export function sentToast(ann, { targets, offline }) {
  if (ann.status === "scheduled") return [t("broadcast.scheduled_at", { time: dateTime(ann.not_before) }), "ok"];
  if (targets.length && offline.length === targets.length) return [t("reach.sent_none", { n: targets.length }), "bad"];
  if (offline.length) return [t("reach.sent_some", { k: targets.length - offline.length, n: offline.length }), ""];
  return [t("broadcast.sent"), "ok"];
}

/** The line under a followed broadcast's title: when it started, or why nothing played. */
export function statusLine(ann) {
  const c = ann.coverage;
  if (ann.status === "failed" && c && c.targeted && c.offline.length === c.targeted) {
    return t("reach.failed_offline", { n: c.targeted });
  }
  if (ann.start_at) return t("broadcast.started_at", { time: dateTime(ann.start_at) });
  // Called off or ended before it began: the pill says so; "waiting" would contradict it.
  return OPEN.has(ann.status) ? t("broadcast.waiting_start") : null;
}

/** What the speaker list shows while it has no speakers yet (nothing once it is over). */
export function noSpeakersLine(ann) {
  if (ann.status === "scheduled") return t("broadcast.scheduled_at", { time: dateTime(ann.not_before) });
  return OPEN.has(ann.status) ? t("broadcast.waiting_speakers") : null;
}
