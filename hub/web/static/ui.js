// Shared widgets: toasts, bottom sheets, confirmations and labelled form controls.
import { h, icon, nextId } from "./dom.js";
import { readClock, readDate, showDate } from "./format.js";
import { t } from "./i18n.js";

// ---- toasts --------------------------------------------------------------------------------

function toastHost() {
  let host = document.getElementById("toasts");
  if (!host) {
    host = h("div", { id: "toasts", class: "toasts", role: "status", ariaLive: "polite" });
    document.body.append(host);
  }
  return host;
}

/** A short message at the bottom; kind: "", "ok" or "bad". */
export function toast(message, kind = "") {
  const el = h("div", { class: `toast ${kind}`, text: message });
  // One message at a time: the newest replaces the one before (a phone screen is small).
  toastHost().replaceChildren(el);
  setTimeout(() => el.remove(), kind === "bad" ? 6000 : 3000);
}

/** Report a failed request without losing the screen. */
export function fail(err) {
  toast(err && err.message ? err.message : String(err), "bad");
}

// ---- sheets and dialogs --------------------------------------------------------------------

/**
 * A modal bottom sheet. Returns { dialog, body, close }. ``build(body, close)`` fills it;
 * closing removes it (and calls onClose).
 */
export function sheet(title, build, { onClose, center = false } = {}) {
  const titleId = nextId("sheet");
  const body = h("div", { class: "sheet-body" });
  const dialog = h("dialog", { class: `sheet${center ? " center" : ""}`, attrs: { "aria-labelledby": titleId } });
  const close = () => dialog.close();
  dialog.append(
    h("div", { class: "sheet-head" },
      h("h2", { id: titleId, text: title }),
      h("button", { class: "btn btn-ghost btn-icon", type: "button", ariaLabel: t("action.close"), onclick: close }, icon("x"))),
    body,
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    if (onClose) onClose();
  });
  dialog.addEventListener("click", (e) => {
    if (e.target === dialog) close(); // a tap on the backdrop
  });
  document.body.append(dialog);
  build(body, close);
  dialog.showModal();
  return { dialog, body, close };
}

/** Ask before doing something; resolves true when confirmed. */
export function confirmBox({ title, message, confirm, danger = false, details = null }) {
  return new Promise((resolve) => {
    let answer = false;
    sheet(title, (body, close) => {
      // Native append() writes a missing ``details`` as the text "null": leave it out instead.
      body.append(
        h("p", { text: message }),
        ...(details ? [details] : []),
        h("div", { class: "sheet-actions" },
          h("button", { class: "btn", type: "button", text: t("action.cancel"), onclick: close }),
          h("button", {
            class: `btn ${danger ? "btn-danger" : "btn-primary"}`,
            type: "button",
            text: confirm,
            dataset: { confirm: "1" },
            onclick: () => { answer = true; close(); },
          })),
      );
    }, { center: true, onClose: () => resolve(answer) });
  });
}

// ---- form controls -------------------------------------------------------------------------

/** A label above a control, with an optional hint tied to it. */
export function field(label, control, hint) {
  const id = control.id || nextId("in");
  control.id = id;
  const parts = [h("label", { class: "label", for: id, text: label }), control];
  if (hint) {
    const hid = nextId("hint");
    control.setAttribute("aria-describedby", hid);
    parts.push(h("span", { class: "hint", id: hid, text: hint }));
  }
  return h("div", { class: "field" }, parts);
}

/** The browser's own check of ``pattern`` says what is wrong in the app's language, not its own. */
export function hintOnMismatch(input, key) {
  const check = () => input.setCustomValidity(input.validity.patternMismatch ? t(key) : "");
  input.addEventListener("input", check);
  check();
}

/**
 * A time typed as 24-hour "hh:mm" (not the browser's picker, which follows the phone's locale).
 * ``clock()`` gives "19:30" or null; a valid entry is tidied when the field is left.
 */
export function clockInput(value, props = {}) {
  const input = h("input", {
    type: "text", inputMode: "numeric", autocomplete: "off", maxLength: 5, value: value || "",
    placeholder: t("time.clock_placeholder"), class: "typed-time", ...props,
  });
  input.addEventListener("blur", () => { const v = readClock(input.value); if (v) input.value = v; });
  input.clock = () => readClock(input.value);
  return input;
}

/** A date typed day first, "dd/mm/yyyy"; ``iso()`` gives "2026-12-05" or null. */
export function dateInput(iso, props = {}) {
  const input = h("input", {
    type: "text", inputMode: "numeric", autocomplete: "off", maxLength: 10, value: showDate(iso),
    placeholder: t("time.date_placeholder"), class: "typed-time", ...props,
  });
  input.addEventListener("blur", () => { const v = readDate(input.value); if (v) input.value = showDate(v); });
  input.iso = () => readDate(input.value);
  return input;
}

/** Radio buttons drawn as a segmented control; returns { el, value() , set(v) }. */
export function segmented(legend, name, options, value, onChange, extraClass = "") {
  const group = h("div", { class: `seg ${extraClass}` });
  for (const opt of options) {
    const input = h("input", { type: "radio", name, value: opt.value, checked: opt.value === value });
    input.addEventListener("change", () => onChange && onChange(opt.value));
    group.append(h("label", {}, input, h("span", { class: opt.className || "", text: opt.label })));
  }
  const el = h("fieldset", { class: "fieldset" }, h("legend", { text: legend }), group);
  return {
    el,
    value: () => (group.querySelector("input:checked") || {}).value,
    set: (v) => { for (const i of group.querySelectorAll("input")) i.checked = i.value === v; },
  };
}

/** Check boxes drawn as chips; returns { el, values() }. */
export function chips(legend, options, selected = []) {
  const box = h("div", { class: "chips" });
  for (const opt of options) {
    const input = h("input", { type: "checkbox", value: String(opt.value), checked: selected.includes(opt.value) });
    if (opt.onChange) input.addEventListener("change", () => opt.onChange(input.checked));
    box.append(h("label", { class: "chip" }, input, h("span", { text: opt.label })));
  }
  const el = h("fieldset", { class: "fieldset" }, h("legend", { text: legend }), box);
  return {
    el,
    values: () => Array.from(box.querySelectorAll("input:checked"), (i) => i.value),
    inputs: () => Array.from(box.querySelectorAll("input")),
  };
}

/** A labelled 0–100 % slider with its value shown; returns { el, input }. */
export function levelSlider(label, value, onInput) {
  const id = nextId("lvl");
  const out = h("output", { for: id, text: `${value} %` });
  const input = h("input", {
    type: "range", id, min: 0, max: 100, step: 5, value,
    attrs: { "aria-valuetext": `${value} %` },
  });
  input.addEventListener("input", () => {
    out.textContent = `${input.value} %`;
    input.setAttribute("aria-valuetext", `${input.value} %`);
    if (onInput) onInput(Number(input.value));
  });
  const el = h("div", { class: "field" },
    h("label", { class: "label", for: id, text: label }),
    h("div", { class: "range" }, input, out));
  return { el, input };
}

/** An on/off switch (button role=switch) with an accessible name. */
export function switchButton(label, checked, onToggle) {
  const btn = h("button", {
    type: "button", class: "switch", role: "switch", ariaChecked: String(Boolean(checked)), ariaLabel: label,
  });
  btn.addEventListener("click", () => onToggle(btn.getAttribute("aria-checked") !== "true"));
  return btn;
}

/** An empty-state line. */
export function empty(text) {
  return h("p", { class: "empty", text });
}

/** The standard page heading (optionally with an action on the right). */
export function pageHead(title, subtitle, action) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", { text: title }), subtitle ? h("p", { class: "muted small", text: subtitle }) : null),
    action || null);
}

/** A "loading…" line for a part of a page still waiting for the hub. */
export function loadingLine() {
  return h("p", { class: "loading-line", role: "status", dataset: { loading: "1" }, text: t("app.loading") });
}

/** What failed to load and a button to try again. */
export function loadError(err, retry) {
  return h("div", { class: "card load-error", role: "alert", dataset: { loadError: "1" } },
    h("p", { text: t("app.load_failed", { error: err && err.message ? err.message : String(err) }) }),
    h("button", { class: "btn", type: "button", text: t("action.retry"), onclick: retry }));
}
