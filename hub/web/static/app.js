// The app: boot, log-in state, the open area and the hash router; the shell is shell.js.
import { api, ApiError, onReachable, setReachable, whenUnauthorized } from "./api.js";
import { h, mount } from "./dom.js";
import { setZone } from "./format.js";
import { onLangChange, t } from "./i18n.js";
import { AreaStore } from "./store.js";
import { flushPicture, forgetPicture, loadPicture, savePictureSoon } from "./offline-store.js";
import { buildShell, renderEmergency, renderTopbar, shell, showReach, updateBadges } from "./shell.js";
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
import * as people from "./view-people.js";
import * as area from "./view-area.js";

const VIEWS = { overview, lights, broadcast, schedules, cameras, logs, devices, feed, settings, more, invites, area, people };
// Which tab is lit for screens reached from another ("more", or the overview for "area").
const TAB_OF = { area: "overview", cameras: "more", logs: "more", devices: "more", invites: "more", people: "more", settings: "more", feed: "more" };
const STAFF_ONLY = new Set(["overview", "area", "lights", "broadcast", "schedules", "cameras", "logs", "devices", "more", "invites", "people"]);

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
  whenUnauthorized(() => {
    forgetPicture();
    showLogin(t("login.expired"));
  });
  onReachable(reachabilityChanged);
  onLangChange(() => (app.me ? renderShell() : showLogin()));
  window.addEventListener("hashchange", route);
  // The phone may close the page at any moment: what changed last is written now.
  window.addEventListener("pagehide", flushPicture);
  document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flushPicture());
  await checkSession();
}

async function checkSession() {
  app.bootFailed = false;
  try {
    app.me = await api("/api/v1/auth/me", { quiet401: true });
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      await forgetPicture(); // logged out elsewhere, or the session expired: nothing to show
      return showLogin();
    }
    return openOffline(err);
  }
  await start();
}

/** The hub cannot be reached (network error or 5xx): wait for it, meanwhile show the kept picture. */
async function openOffline(err) {
  const down = !(err instanceof ApiError) || err.status === 0 || err.status >= 500;
  if (!down) return showLogin(err.message);
  app.bootFailed = true;
  setReachable(false); // probe until the hub answers, then boot again
  // A hub that answers /healthz but fails the session check comes back here every few
  // seconds: the picture already shown stays as it is (scroll, open sheet).
  if (app.store && app.store.fromPicture && shell.main && shell.main.isConnected) return showReach(app.store);
  const picture = await loadPicture();
  if (!picture || !picture.me || !picture.code) return showLogin(err.message);
  app.me = picture.me;
  app.areas = picture.areas && picture.areas.length ? picture.areas : [{ code: picture.code, name: picture.code }];
  const store = new AreaStore(picture.code, picture.me.role);
  store.hydrate(picture);
  store.pictureAt = picture.at;
  useStore(store);
  renderShell();
  return null;
}

/** After a successful login (or on boot with a live session). */
export async function start(me) {
  if (me) app.me = me;
  try {
    const page = await api("/api/v1/areas?limit=500");
    app.areas = page.items;
  } catch (err) {
    return openOffline(err);
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
  const store = new AreaStore(code, app.me.role);
  localStorage.setItem("khu.area", code);
  useStore(store);
  // The shell and loading placeholders at once: a slow hub must not leave the splash alone.
  store.loading = true;
  renderShell();
  try {
    await store.load();
  } catch (err) {
    if (app.store !== store) return null;
    if (err instanceof ApiError && err.status !== 0 && err.status < 500) return showMessage(err.message);
    // The hub went away while loading: the kept picture of this area, if there is one.
    const picture = await loadPicture();
    if (picture && picture.code === code && picture.me && picture.me.username === app.me.username) {
      store.hydrate(picture);
      store.pictureAt = picture.at;
    }
  }
  if (app.store !== store) return null; // another area was picked meanwhile
  store.loading = false;
  store.connect();
  keepPicture(store);
  route();
  updateBadges(store);
  renderEmergency(store.emergency, store);
  return null;
}

/** Make ``store`` the open area's (closing the one before). */
function useStore(store) {
  if (app.store) app.store.close();
  app.store = store;
  const summary = app.areas.find((a) => a.code === store.code);
  setZone((summary && summary.timezone) || (store.area && store.area.timezone));
  store.on("emergency", (state) => renderEmergency(state, store));
  store.on("area", () => renderTopbar(app, openArea));
}

/** Keep the store's picture on the phone as it changes (for opening without the hub). */
function keepPicture(store) {
  const save = () => savePictureSoon(store, () => ({ me: app.me, areas: app.areas }));
  for (const name of ["devices", "emergency", "area", "feed_kept"]) store.on(name, save);
  save();
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
  if (app.store) app.store.close(); // no picture written after this
  await forgetPicture(); // a phone may be shared: the next person sees nothing of this account
  showLogin();
}

function renderShell() {
  closeView();
  buildShell(app, openArea);
  app.store.on("devices", () => updateBadges(app.store));
  route();
}

function reachabilityChanged(ok) {
  if (ok && app.bootFailed) {
    checkSession(); // opened offline (page from the worker's cache): the hub is back
    return;
  }
  if (!ok && app.store && !app.store.fromPicture && !app.store.loading) {
    // Live until now: that is the time the kept picture (and the banner) speaks of.
    app.store.liveUntil = new Date().toISOString();
    savePictureSoon(app.store, () => ({ me: app.me, areas: app.areas }));
    flushPicture();
  }
  showReach(app.store);
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
  shell.frame.replaceChildren();
  if (app.store.loading) {
    // The first load has not answered: placeholders in the shape of a page, not a blank screen.
    mount(shell.frame, h("div", { class: "loading-page" },
      h("p", { class: "loading-line", role: "status", dataset: { loading: "page" }, text: t("app.loading") }),
      [1, 2, 3].map(() => h("div", { class: "skeleton", attrs: { "aria-hidden": "true" } }))));
    app.view = { name: view };
    return;
  }
  const ctx = { store: app.store, me: app.me, areas: app.areas, go, logout };
  const result = VIEWS[view].render(shell.frame, ctx, params) || {};
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
