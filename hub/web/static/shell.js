// The shell around every view: the top bar (area, who, live badge), the offline and emergency
// banners, the read-only frame the views draw in, and the tab bar.
import { isReachable } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { endEmergency } from "./emergency.js";
import { dateTime } from "./format.js";
import { t } from "./i18n.js";
import { fail } from "./ui.js";

const STAFF_TABS = [
  { path: "overview", icon: "home", label: "nav.overview" },
  { path: "lights", icon: "bulb", label: "nav.lights" },
  { path: "broadcast", icon: "megaphone", label: "nav.broadcast" },
  { path: "schedules", icon: "calendar", label: "nav.schedules" },
  { path: "more", icon: "more", label: "nav.more" },
];
const RESIDENT_TABS = [
  { path: "feed", icon: "bell", label: "nav.feed" },
  { path: "settings", icon: "gear", label: "nav.settings" },
];

export const shell = {};

/** Draw the shell for ``app`` (me, areas, store, root); ``pickArea`` opens another area. */
export function buildShell(app, pickArea) {
  app.root.className = "";
  const staff = app.me.role !== "resident";
  shell.topbar = h("header", { class: "topbar" });
  shell.since = h("span", { class: "since", dataset: { since: "1" } });
  shell.offline = h("div", { class: "banner banner-offline", role: "alert", hidden: true, dataset: { banner: "offline" } },
    icon("offline"), h("span", { class: "grow" }, h("span", { text: t("conn.lost") }), shell.since),
    h("span", { class: "spinner", attrs: { "aria-hidden": "true" } }));
  shell.emergency = h("div", { class: "banner banner-emergency", hidden: true, dataset: { banner: "emergency" } });
  shell.main = h("main", { id: "main", tabIndex: -1 });
  // Views draw inside one fieldset: disabling it makes every control read-only while the hub
  // cannot be reached (the banner says why), and enabling it gives them back at once.
  shell.frame = h("fieldset", { class: "view-frame" });
  shell.main.append(shell.frame);
  shell.tabbar = h("nav", { class: "tabbar", ariaLabel: t("nav.label") });
  for (const tab of staff ? STAFF_TABS : RESIDENT_TABS) {
    const badge = tab.path === "more" ? h("span", { class: "badge", hidden: true, dataset: { badge: "more" } }) : null;
    shell.tabbar.append(h("a", { href: `#/${tab.path}`, dataset: { tab: tab.path } }, icon(tab.icon, 24), h("span", { text: t(tab.label) }), badge));
  }
  mount(app.root, h("div", { class: "shell" }, shell.topbar, shell.offline, shell.emergency, shell.main, shell.tabbar));
  renderTopbar(app, pickArea);
  renderEmergency(app.store.emergency, app.store);
  updateBadges(app.store);
  showReach(app.store);
}

/** The offline banner, the live badge and the read-only frame, from reachability and the store. */
export function showReach(store) {
  const ok = isReachable();
  const readOnly = !ok || Boolean(store && store.fromPicture);
  if (shell.offline) {
    shell.offline.hidden = !readOnly;
    const at = store && (store.fromPicture ? store.pictureAt : store.liveUntil);
    shell.since.textContent = at ? t("conn.data_from", { time: when(at) }) : t("conn.read_only");
  }
  if (shell.frame) {
    shell.frame.disabled = readOnly;
    shell.frame.title = readOnly ? t("conn.read_only") : "";
  }
  if (shell.live) {
    shell.live.className = `live${ok ? "" : " down"}`;
    shell.live.textContent = ok ? t("conn.live") : t("conn.offline");
  }
}

/** "14:32" today, "14:32 03/12" another day. */
function when(at) {
  const full = dateTime(at);
  const today = dateTime(new Date()).split(" ")[1];
  return full.split(" ")[1] === today ? full.split(" ")[0] : full;
}

export function renderTopbar(app, pickArea) {
  if (!shell.topbar || !app.store) return;
  const area = app.store.area || app.areas.find((a) => a.code === app.store.code) || { name: app.store.code };
  const role = t(`role.${app.me.role}`);
  const who = h("div", { class: "who", text: `${role} · ${app.me.display_name || app.me.username}` });
  let name = h("div", { class: "area-name", text: area.name });
  if (app.areas.length > 1) {
    // A commune admin: the area's name is the picker.
    name = h("select", { class: "area-picker", ariaLabel: t("app.pick_area") },
      app.areas.map((a) => h("option", { value: a.code, text: a.name, selected: a.code === app.store.code })));
    name.addEventListener("change", () => pickArea(name.value));
  }
  const parts = [h("img", { class: "logo", src: "/static/icon.svg", alt: "" }), h("div", { class: "titles" }, name, who)];
  shell.live = h("span", { class: `live${isReachable() ? "" : " down"}`, text: isReachable() ? t("conn.live") : t("conn.offline") });
  parts.push(shell.live);
  mount(shell.topbar, parts);
}

export function renderEmergency(state, store) {
  if (!shell.emergency) return;
  const active = Boolean(state && state.active);
  shell.emergency.hidden = !active;
  if (!active) return;
  mount(shell.emergency, icon("alert"), h("span", { class: "grow", text: t("emergency.active_banner") }),
    h("button", {
      class: "btn btn-sm", type: "button", text: t("emergency.end"),
      onclick: () => endEmergency(store).catch(fail),
    }));
}

export function updateBadges(store) {
  if (!shell.tabbar || !store || !store.staff) return;
  const n = store.pendingDevices().length;
  const badge = shell.tabbar.querySelector("[data-badge=more]");
  if (badge) {
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute("aria-label", t("devices.pending_count", { n }));
  }
}
