// The app: boot, log-in state, the shell (top bar, banners, tab bar) and the hash router.
import { api, ApiError, isReachable, onReachable, whenUnauthorized } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { setZone } from "./format.js";
import { onLangChange, t } from "./i18n.js";
import { AreaStore } from "./store.js";
import { fail } from "./ui.js";
import { endEmergency } from "./emergency.js";
import * as login from "./view-login.js";
import * as overview from "./view-overview.js";
import * as lights from "./view-lights.js";
import * as broadcast from "./view-broadcast.js";
import * as schedules from "./view-schedules.js";
import * as cameras from "./view-cameras.js";
import * as logs from "./view-logs.js";
import * as devices from "./view-devices.js";
import * as feed from "./view-feed.js";
import * as settings from "./view-settings.js";
import * as more from "./view-more.js";
import * as invites from "./view-invites.js";

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
const VIEWS = { overview, lights, broadcast, schedules, cameras, logs, devices, feed, settings, more, invites };
// Which tab is lit for screens reached from "more".
const TAB_OF = { cameras: "more", logs: "more", devices: "more", invites: "more", settings: "more", feed: "more" };
const STAFF_ONLY = new Set(["overview", "lights", "broadcast", "schedules", "cameras", "logs", "devices", "more", "invites"]);

const app = {
  me: null,
  areas: [],
  store: null,
  root: document.getElementById("app"),
  view: null, // { name, cleanup, refresh }
  bootFailed: false, // the hub was unreachable at start: boot again when it answers
};

// ---- boot ----------------------------------------------------------------------------------

async function boot() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {});
  }
  whenUnauthorized(() => showLogin(t("login.expired")));
  onReachable(reachabilityChanged);
  onLangChange(() => (app.me ? renderShell() : showLogin()));
  window.addEventListener("hashchange", route);
  await checkSession();
}

async function checkSession() {
  app.bootFailed = false;
  try {
    app.me = await api("/api/v1/auth/me", { quiet401: true });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showLogin();
    app.bootFailed = err instanceof ApiError && err.status === 0;
    return showLogin(err.message);
  }
  await start();
}

/** After a successful login (or on boot with a live session). */
export async function start(me) {
  if (me) app.me = me;
  try {
    const page = await api("/api/v1/areas?limit=500");
    app.areas = page.items;
  } catch (err) {
    return showLogin(err.message);
  }
  if (!app.areas.length) return showMessage(t("app.no_area"));
  if (new URLSearchParams(location.search).has("notification")) {
    history.replaceState(null, "", "/#/feed"); // opened from a push notification
  }
  const saved = localStorage.getItem("khu.area");
  const code = app.areas.some((a) => a.code === saved) ? saved : app.areas[0].code;
  await openArea(code);
}

async function openArea(code) {
  if (app.store) app.store.close();
  const store = new AreaStore(code, app.me.role);
  app.store = store;
  localStorage.setItem("khu.area", code);
  const summary = app.areas.find((a) => a.code === code);
  setZone(summary && summary.timezone);
  try {
    await store.load();
  } catch (err) {
    if (!(err instanceof ApiError) || err.status === 0) {
      // The hub is unreachable: show the shell (cached by the worker) and the banner.
    } else {
      return showMessage(err.message);
    }
  }
  store.connect();
  store.on("emergency", renderEmergency);
  store.on("area", () => renderTopbar());
  renderShell();
}

function showLogin(message) {
  if (app.store) app.store.close();
  app.store = null;
  app.me = null;
  closeView();
  app.root.className = "";
  login.render(app.root, { start, message });
}

function showMessage(text) {
  closeView();
  mount(app.root, h("div", { class: "login" },
    h("div", { class: "card" }, h("p", { text }),
      h("div", { class: "sheet-actions" }, h("button", { class: "btn btn-primary", type: "button", text: t("action.logout"), onclick: logout })))));
}

export async function logout() {
  try {
    await api("/api/v1/auth/logout", { method: "POST" });
  } catch {
    // logged out locally anyway
  }
  showLogin();
}

// ---- shell ---------------------------------------------------------------------------------

const shell = {};

function renderShell() {
  closeView();
  app.root.className = "";
  const staff = app.me.role !== "resident";
  shell.topbar = h("header", { class: "topbar" });
  shell.offline = h("div", { class: "banner banner-offline", role: "alert", hidden: isReachable(), dataset: { banner: "offline" } },
    icon("offline"), h("span", { class: "grow", text: t("conn.lost") }), h("span", { class: "spinner", attrs: { "aria-hidden": "true" } }));
  shell.emergency = h("div", { class: "banner banner-emergency", hidden: true, dataset: { banner: "emergency" } });
  shell.main = h("main", { id: "main", tabIndex: -1 });
  shell.tabbar = h("nav", { class: "tabbar", ariaLabel: t("nav.label") });
  for (const tab of staff ? STAFF_TABS : RESIDENT_TABS) {
    const badge = tab.path === "more" ? h("span", { class: "badge", hidden: true, dataset: { badge: "more" } }) : null;
    shell.tabbar.append(h("a", { href: `#/${tab.path}`, dataset: { tab: tab.path } }, icon(tab.icon, 24), h("span", { text: t(tab.label) }), badge));
  }
  mount(app.root, h("div", { class: "shell" }, shell.topbar, shell.offline, shell.emergency, shell.main, shell.tabbar));
  renderTopbar();
  renderEmergency(app.store.emergency);
  app.store.on("devices", updateBadges);
  updateBadges();
  route();
}

function renderTopbar() {
  if (!shell.topbar || !app.store) return;
  const area = app.store.area || app.areas.find((a) => a.code === app.store.code) || { name: app.store.code };
  const role = t(`role.${app.me.role}`);
  const who = h("div", { class: "who", text: `${role} · ${app.me.display_name || app.me.username}` });
  let name = h("div", { class: "area-name", text: area.name });
  if (app.areas.length > 1) {
    // A commune admin: the area's name is the picker.
    name = h("select", { class: "area-picker", ariaLabel: t("app.pick_area") },
      app.areas.map((a) => h("option", { value: a.code, text: a.name, selected: a.code === app.store.code })));
    name.addEventListener("change", () => openArea(name.value));
  }
  const parts = [h("img", { class: "logo", src: "/static/icon.svg", alt: "" }), h("div", { class: "titles" }, name, who)];
  shell.live = h("span", { class: `live${isReachable() ? "" : " down"}`, text: isReachable() ? t("conn.live") : t("conn.offline") });
  parts.push(shell.live);
  mount(shell.topbar, parts);
}

function renderEmergency(state) {
  if (!shell.emergency) return;
  const active = Boolean(state && state.active);
  shell.emergency.hidden = !active;
  if (!active) return;
  mount(shell.emergency, icon("alert"), h("span", { class: "grow", text: t("emergency.active_banner") }),
    h("button", {
      class: "btn btn-sm", type: "button", text: t("emergency.end"),
      onclick: () => endEmergency(app.store).catch(fail),
    }));
}

function updateBadges() {
  if (!shell.tabbar || !app.store || !app.store.staff) return;
  const n = app.store.pendingDevices().length;
  const badge = shell.tabbar.querySelector("[data-badge=more]");
  if (badge) {
    badge.hidden = n === 0;
    badge.textContent = String(n);
    badge.setAttribute("aria-label", t("devices.pending_count", { n }));
  }
}

function reachabilityChanged(ok) {
  if (ok && app.bootFailed) {
    checkSession(); // opened offline (page from the worker's cache): the hub is back
    return;
  }
  if (shell.offline) shell.offline.hidden = ok;
  if (shell.live) {
    shell.live.className = `live${ok ? "" : " down"}`;
    shell.live.textContent = ok ? t("conn.live") : t("conn.offline");
  }
  if (ok && app.store) {
    app.store.revive();
    app.store.reloadSoon();
    if (app.view && app.view.refresh) app.view.refresh();
  }
}

// ---- router --------------------------------------------------------------------------------

function closeView() {
  if (app.view && app.view.cleanup) app.view.cleanup();
  app.view = null;
}

function route() {
  if (!app.me || !shell.main || !app.store) return;
  const staff = app.me.role !== "resident";
  const [name, ...params] = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  let view = VIEWS[name] ? name : null;
  if (!view || (!staff && STAFF_ONLY.has(view))) {
    const fallback = staff ? "overview" : "feed";
    if (location.hash !== `#/${fallback}`) {
      history.replaceState(null, "", `#/${fallback}`);
    }
    view = fallback;
  }
  closeView();
  const tab = TAB_OF[view] && staff ? TAB_OF[view] : view;
  for (const a of shell.tabbar.querySelectorAll("a")) {
    if (a.dataset.tab === tab) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  shell.main.replaceChildren();
  const ctx = { store: app.store, me: app.me, areas: app.areas, go, logout };
  const result = VIEWS[view].render(shell.main, ctx, params) || {};
  app.view = { name: view, ...(typeof result === "function" ? { cleanup: result } : result) };
  window.scrollTo(0, 0);
  document.title = `${t(`title.${view}`)} · ${t("app.name")}`;
}

export function go(path) {
  if (location.hash === `#/${path}`) route();
  else location.hash = `#/${path}`;
}

boot().catch((err) => {
  console.error(err);
  showLogin(err.message);
});
