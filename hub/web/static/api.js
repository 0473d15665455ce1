// The hub's HTTP API (cookie session: no tokens in JavaScript) and whether the hub is reachable.
import { t } from "./i18n.js";

export class ApiError extends Error {
  constructor(status, message, detail) {
    super(message);
    this.status = status;
    this.detail = detail;
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

// ---- requests ------------------------------------------------------------------------------

let onUnauthorized = () => {};

export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

function explain(status, body) {
  const detail = body && body.detail;
  if (status === 401) return t("error.session");
  if (status === 403) return t("error.forbidden");
  if (status === 404) return t("error.not_found");
  if (status === 429) return t("error.too_many");
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail) && detail.length) {
    return detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ");
  }
  return t("error.generic", { status });
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
    throw new ApiError(response.status, explain(response.status, body), body);
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

  function open() {
    if (closed) return;
    source = new EventSource(url, { withCredentials: true });
    for (const [name, fn] of Object.entries(handlers)) {
      source.addEventListener(name, (e) => {
        let data = null;
        try {
          data = JSON.parse(e.data);
        } catch {
          return;
        }
        if (name === "hello") {
          clearTimeout(downTimer);
          downTimer = null;
          setReachable(true);
        }
        fn(data);
      });
    }
    source.onerror = () => {
      if (closed) return;
      // A stream also ends on purpose every few minutes and reconnects at once: only a
      // failure that lasts is shown as "hub unreachable".
      if (!downTimer) downTimer = setTimeout(() => setReachable(false), 3000);
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
