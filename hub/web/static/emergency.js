// Emergency mode in two deliberate steps: describe, then confirm what will happen.
import { api } from "./api.js";
import { h } from "./dom.js";
import { dateTime } from "./format.js";
import { t } from "./i18n.js";
import { confirmBox, fail, field, sheet, toast } from "./ui.js";

/** The big red button's dialog: the alert text, then the hub's confirmation step. */
export function askEmergency(store) {
  sheet(t("emergency.title"), (body, close) => {
    const title = h("input", { type: "text", value: t("emergency.default_title"), maxLength: 200, required: true });
    const text = h("textarea", { required: true, maxLength: 2000, placeholder: t("emergency.text_placeholder") });
    const error = h("p", { class: "error-text", role: "alert" });
    const next = h("button", { class: "btn btn-danger btn-block btn-lg", type: "submit", text: t("emergency.continue") });
    const form = h("form", {},
      h("p", { class: "muted", text: t("emergency.explain"), style: { marginBottom: "14px" } }),
      field(t("emergency.alert_title"), title),
      field(t("emergency.alert_text"), text, t("emergency.text_hint")),
      error, next);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!text.value.trim()) {
        error.textContent = t("emergency.need_text");
        text.focus();
        return;
      }
      next.disabled = true;
      const json = { title: title.value.trim() || t("emergency.default_title"), text: text.value.trim() };
      try {
        const first = await api(`${store.base}/emergency`, { method: "POST", json });
        close();
        await confirmStep(store, json, first);
      } catch (err) {
        error.textContent = err.message;
        next.disabled = false;
      }
    });
    body.append(form);
    setTimeout(() => text.focus(), 50);
  });
}

async function confirmStep(store, json, first) {
  const speakers = store.list("speaker").length;
  const lights = store.list("light").length;
  const details = h("ul", { class: "stack", style: { margin: "12px 0 0", paddingLeft: "20px" } },
    h("li", { text: t("emergency.will_speakers", { n: speakers }) }),
    h("li", { text: t("emergency.will_lights", { n: lights }) }),
    h("li", { text: t("emergency.will_notify") }));
  const wrapped = h("div", {}, details, h("p", { class: "muted small", style: { marginTop: "10px" }, text: t("emergency.expires", { s: first.expires_in }) }));
  const ok = await confirmBox({
    title: t("emergency.confirm_title"),
    message: `"${json.title}: ${json.text}"`,
    confirm: t("emergency.confirm"),
    danger: true,
    details: wrapped,
  });
  if (!ok) return;
  try {
    const state = await api(`${store.base}/emergency`, { method: "POST", json: { ...json, confirm_token: first.confirm_token } });
    store.setEmergency(state);
    toast(t("emergency.started"), "bad");
  } catch (err) {
    fail(err);
  }
}

/**
 * The second step of an emergency-level announcement sent from the ordinary form (the form
 * was the first): the same "this is what will happen" question as the emergency button's.
 * ``zoneIds`` null means every zone; ``at`` a Date for a scheduled one. Resolves true on yes.
 */
export function confirmEmergencyBroadcast(store, { title, text, zoneIds, at }) {
  const speakers = store.list("speaker").filter((d) => !zoneIds || zoneIds.includes(d.zone_id)).length;
  let line;
  if (at) line = t("emergency.will_speakers_later", { n: speakers, time: dateTime(at) });
  else if (zoneIds) line = t("emergency.will_speakers_some", { n: speakers });
  else line = t("emergency.will_speakers", { n: speakers });
  const details = h("ul", { class: "stack", style: { margin: "12px 0 0", paddingLeft: "20px" } },
    h("li", { text: line }),
    h("li", { text: t("emergency.will_notify") }),
    h("li", { text: t("emergency.lights_unchanged") }));
  return confirmBox({
    title: t("emergency.confirm_title"),
    message: text ? `"${title}: ${text}"` : `"${title}"`,
    confirm: t("emergency.confirm"),
    danger: true,
    details,
  });
}

/** End emergency mode after a confirmation. */
export async function endEmergency(store) {
  const ok = await confirmBox({ title: t("emergency.end_title"), message: t("emergency.end_explain"), confirm: t("emergency.end") });
  if (!ok) return;
  const state = await api(`${store.base}/emergency/end`, { method: "POST" });
  store.setEmergency(state);
  toast(t("emergency.ended"), "ok");
}

/** The red card that opens the emergency dialog. */
export function emergencyCard(store) {
  return h("section", { class: "card emergency-card", ariaLabel: t("emergency.title") },
    h("h2", { text: t("emergency.title") }),
    h("p", { class: "muted small", text: t("emergency.card_text") }),
    h("button", {
      class: "btn btn-danger btn-block btn-lg", type: "button", text: t("emergency.button"),
      dataset: { action: "emergency" },
      onclick: () => (store.emergency.active ? toast(t("emergency.already")) : askEmergency(store)),
    }));
}
