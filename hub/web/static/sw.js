// Service worker: the app opens without the hub (shell from cache), and push notifications.
// The hub fills in VERSION (changes with every file) and SHELL (the app's files) when serving.
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const CACHE = `khu-shell-${VERSION}`;
const AUDIO = "khu-audio";

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE && k !== AUDIO).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    // Network first: the newest page when the hub answers, the cached one when it does not
    // (also when a proxy in front of it answers for it that the hub is down).
    const shell = () => caches.match("/", { cacheName: CACHE });
    event.respondWith(fetch(request)
      .then(async (response) => ([502, 503, 504].includes(response.status) && (await shell())) || response)
      .catch(shell));
    return;
  }
  if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(caches.match(request, { cacheName: CACHE }).then((hit) => hit || fetch(request)));
    return;
  }
  if (url.pathname.startsWith("/api/v1/audio/") && !request.headers.has("range")) {
    // Announcement audio never changes once written: keep it for listening offline.
    event.respondWith(caches.open(AUDIO).then(async (cache) => {
      const hit = await cache.match(request);
      if (hit) return hit;
      const response = await fetch(request);
      if (response.ok && response.status === 200) cache.put(request, response.clone());
      return response;
    }));
  }
  // Everything else (the API, live streams) goes straight to the hub.
});

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { title: event.data ? event.data.text() : "" };
  }
  const urgent = data.priority === "emergency";
  let target = "/#/feed";
  try {
    const u = new URL(data.url || "/", self.location.origin);
    if (u.origin === self.location.origin) target = u.pathname + u.search + u.hash;
  } catch {
    // keep the feed
  }
  event.waitUntil(self.registration.showNotification(data.title || "Khu phố", {
    body: data.body || "",
    tag: data.id ? `khu-${data.id}` : undefined,
    icon: "/static/icon-192.png",
    badge: "/static/icon-192.png",
    lang: "vi",
    requireInteraction: urgent,
    renotify: urgent && Boolean(data.id),
    vibrate: urgent ? [400, 200, 400, 200, 400] : [200],
    data: { url: target },
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = (event.notification.data && event.notification.data.url) || "/#/feed";
  event.waitUntil(self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((clients) => {
    for (const client of clients) {
      if ("focus" in client) {
        client.navigate(target).catch(() => {});
        return client.focus();
      }
    }
    return self.clients.openWindow(target);
  }));
});
