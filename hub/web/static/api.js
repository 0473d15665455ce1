// The hub's HTTP API (cookie session: no tokens in JavaScript) and whether the hub is reachable.
import { explain } from "./api-errors.js";
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
    // The hub's stable error code (docs/errors.md), for views that act on one.
    this.code = detail && typeof detail.code === "string" ? detail.code : null;
  }
}

// ---- reachability --------------------------------------------------------------------------

const listeners = new Set();
let reachable = true;
let probe = null;

/** Be told when the hub becomes unreachable (false) or reachable again (true). */
export function onReachable(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

export function isReachable() {
  return reachable;
}

/** Record what the last exchange with the hub showed; while down, probe until it answers. */
export function setReachable(ok) {
  if (ok === reachable) return;
  reachable = ok;
  for (const fn of listeners) fn(ok);
  if (!ok && !probe) {
    probe = setInterval(async () => {
      try {
        const r = await fetch("/healthz", { cache: "no-store" });
        if (r.ok) setReachable(true);
      } catch {
        // still down
      }
    }, 2500);
  }
  if (ok && probe) {
    clearInterval(probe);
    probe = null;
  }
}

/** Ask the hub now whether it is there (a short timeout: a dead network may not even refuse). */
export async function checkHub() {
  try {
    const r = await fetch("/healthz", { cache: "no-store", signal: AbortSignal.timeout(2500) });
    setReachable(r.status !== 502 && r.status !== 504); // those two are a proxy saying the hub is gone
  } catch {
    setReachable(false);
  }
}

// The phone says when it loses its own network (Wi-Fi off, out of range): no need to wait
// for the live stream to notice.
self.addEventListener("offline", () => setReachable(false));
self.addEventListener("online", () => checkHub());

// ---- requests ------------------------------------------------------------------------------

let onUnauthorized = () => {};

export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/** A random key, also where crypto.randomUUID is missing (plain http on a LAN). */
export function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Call the API. Options: method, json (sent as JSON), form (FormData), headers, quiet401
 * (do not treat a 401 as "logged out"). Resolves to the parsed body (null for 204).
 */
export async function api(path, { method = "GET", json, form, headers = {}, quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", cache: "no-store" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["Content-Type"] = "application/json";
  } else if (form) {
    init.body = form;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    setReachable(false);
    throw new ApiError(0, t("error.network"));
  }
  if (response.status === 502 || response.status === 504) {
    setReachable(false);
    throw new ApiError(response.status, t("error.network"));
  }
  setReachable(true);
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, explain(response.status, body, response.headers.get("retry-after")), body);
  }
  return body;
}

/** Every item of a paged list (pages of 500). */
export async function all(path) {
  const items = [];
  const sep = path.includes("?") ? "&" : "?";
  for (let offset = 0; ; offset += 500) {
    const page = await api(`${path}${sep}limit=500&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

/** Same-origin address of a hub audio file (the API gives absolute URLs for speakers). */
export function localAudio(url) {
  if (!url) return null;
  try {
    const u = new URL(url, location.origin);
    return u.pathname.startsWith("/api/v1/audio/") ? u.pathname : null;
  } catch {
    return null;
  }
}

// ---- live streams --------------------------------------------------------------------------

/**
 * Follow a server-sent event stream. handlers: { [event name]: fn(data) }; ``hello`` comes
 * first and after every reconnect (reload then). The browser reconnects by itself after a
 * network error; after an HTTP error (session ended) we check the session and retry.
 */
export function follow(url, handlers) {
  let source = null;
  let closed = false;
  let downTimer = null;
  let retryTimer = null;
  // The hub pings an idle stream every ``ping_s`` (said in the hello) as an event: no event
  // at all for longer means the network went silent without closing the connection (the
  // hub's uplink gone), which no error reports. Then the stream is dropped and the hub asked.
  let quietMs = 0;
  let watchdog = null;
  const sep = url.includes("?") ? "&" : "?";

  function alive() {
    clearTimeout(watchdog);
    if (!quietMs || closed) return;
    watchdog = setTimeout(async () => {
      if (source) source.close();
      source = null;
      await checkHub();
      if (reachable && !closed && !source) open(); // only the stream stalled: a new one now
    }, quietMs);
  }

  function open() {
    if (closed) return;
    source = new EventSource(`${url}${sep}ping=event`, { withCredentials: true });
    alive();
    source.addEventListener("ping", alive);
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => {
        alive();
        let data = null;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (name === "hello") {
          clearTimeout(downTimer);
          downTimer = null;
          if (data && data.ping_s > 0) quietMs = data.ping_s * 1000 + 2500; // a ping, and a slow network's delay
          alive();
          setReachable(true);
        }
        fn(data);
      });
    }
    source.onerror = () => {
      if (closed) return;
      // A stream also ends on purpose every few minutes and reconnects at once: ask the
      // hub whether it is there before saying it is not (and say so within seconds).
      if (!downTimer) {
        downTimer = setTimeout(() => {
          downTimer = null;
          checkHub();
        }, 300);
      }
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        clearTimeout(retryTimer);
        retryTimer = setTimeout(async () => {
          try {
            await api("/api/v1/auth/me");
            open();
          } catch (err) {
            if (!(err instanceof ApiError) || err.status !== 401) retryTimer = setTimeout(open, 3000);
          }
        }, 2000);
      }
    };
  }

  open();
  return {
    close() {
      closed = true;
      clearTimeout(watchdog);
      clearTimeout(downTimer);
      clearTimeout(retryTimer);
      if (source) source.close();
    },
    /** Reconnect now (after the hub came back, if the browser gave up). */
    revive() {
      if (!closed && (!source || source.readyState === EventSource.CLOSED)) open();
    },
  };
}
