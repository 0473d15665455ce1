// Pieces shared by the broadcast screen and the broadcast log: status, coverage, details.
import { api, localAudio } from "./api.js";
import { h } from "./dom.js";
import { dateTime, decimal } from "./format.js";
import { t } from "./i18n.js";
import { fail, sheet } from "./ui.js";

const TONE = { scheduled: "info", queued: "info", playing: "info", done: "ok", interrupted: "warn", cancelled: "", failed: "bad" };

export function statusPill(status) {
  return h("span", { class: `pill ${TONE[status] || ""}`, dataset: { status } }, t(`ann.${status}`));
}

export function priorityPill(priority) {
  const tone = { emergency: "bad", priority: "warn" }[priority] || "";
  return h("span", { class: `pill ${tone}`, text: t(`priority.${priority}`) });
}

/** Coverage: how many speakers started and finished, spread of the starts, who was missing. */
export function coverageBlock(c, final = true, nameOf = (id) => id) {
  // Names, not ids: the head knows "Loa chợ", not "spk-03".
  const names = (ids) => ids.map(nameOf).join(", ");
  return h("div", { class: "coverage-box", dataset: { coverage: String(c.percent) } },
    h("h3", { text: final ? t("coverage.title") : t("coverage.so_far") }),
    h("div", { class: "meter", role: "img", ariaLabel: t("coverage.short", { p: c.percent }) }, meterFill(c.percent)),
    h("div", { class: "coverage" },
      h("div", {}, h("b", { text: `${c.percent} %` }), h("span", { text: t("coverage.percent") })),
      h("div", {}, h("b", { text: `${c.finished}/${c.targeted}` }), h("span", { text: t("coverage.finished") })),
      spreadCell(c.start_spread_ms)),
    c.offline.length ? h("p", { class: "small", style: { marginTop: "8px" }, text: t("coverage.offline", { list: names(c.offline) }) }) : null,
    c.failed.length ? h("p", { class: "small error-text", style: { marginTop: "4px" }, text: t("coverage.failed", { list: names(c.failed) }) }) : null,
    c.stopped && c.stopped.length ? h("p", { class: "small", style: { marginTop: "4px" }, text: t("coverage.stopped", { list: names(c.stopped), p: c.played_percent }) }) : null);
}

// Starts closer than this sound as one voice to a listener between two speakers.
const TOGETHER_MS = 50;

/** How far apart the speakers started, said plainly ("Cùng lúc", "0,4 giây"), not in ms. */
function spreadCell(ms) {
  const known = ms !== null && ms !== undefined;
  const together = known && ms <= TOGETHER_MS;
  const value = !known ? "–" : together ? t("coverage.together") : t("coverage.apart", { s: decimal(ms / 1000, 1) });
  return h("div", { dataset: { spread: known ? String(Math.round(ms)) : "" } },
    h("b", { class: together ? "word" : "", text: value }), h("span", { text: together || !known ? t("coverage.started") : t("coverage.started_apart") }));
}

function meterFill(percent) {
  const bar = h("i");
  bar.style.width = `${Math.max(0, Math.min(100, percent))}%`;
  return bar;
}

/** An announcement's details: text, audio, each speaker, coverage. */
export async function announcementSheet(store, id) {
  let ann;
  try {
    ann = await api(`${store.base}/announcements/${id}`);
  } catch (err) {
    fail(err);
    return;
  }
  sheet(ann.title, (body) => {
    const audio = localAudio(ann.audio_url);
    body.append(
      h("dl", { class: "kv" },
        h("dt", { text: t("ann.status") }), h("dd", {}, statusPill(ann.status)),
        h("dt", { text: t("broadcast.priority") }), h("dd", {}, priorityPill(ann.priority)),
        h("dt", { text: t("ann.when") }), h("dd", { text: dateTime(ann.start_at || ann.not_before) }),
        h("dt", { text: t("ann.zones") }), h("dd", { text: ann.zone_ids ? ann.zone_ids.map((z) => store.zoneName(z) || z).join(", ") : t("broadcast.all_zones") }),
        h("dt", { text: t("ann.by") }), h("dd", { text: ann.created_by_name || ann.created_by || t(`ann.source.${ann.source}`) }),
        h("dt", { text: t("ann.length") }), h("dd", { text: `${Math.round(ann.duration_ms / 1000)} s` })),
      ann.text ? h("p", { text: ann.text, style: { whiteSpace: "pre-wrap", marginBottom: "12px" } }) : null,
      audio ? h("audio", { controls: true, preload: "none", src: audio, ariaLabel: t("feed.listen"), style: { width: "100%" } }) : null,
      ann.coverage ? coverageBlock(ann.coverage, true, (d) => (store.devices.get(d) || {}).name || d) : null,
      ann.deliveries && ann.deliveries.length ? h("ul", { class: "list", style: { marginTop: "12px" } },
        ann.deliveries.map((d) => h("li", { class: "item" },
          h("span", { class: "body" },
            h("span", { class: "title", text: (store.devices.get(d.device_id) || {}).name || d.device_id }),
            h("span", { class: "meta", text: d.started_at ? `${dateTime(d.started_at)}${d.finished_at ? ` → ${dateTime(d.finished_at)}` : ""}` : d.error || "" })),
          h("span", { class: "pill", text: t(`delivery.${d.status}`) })))) : null);
  });
}
