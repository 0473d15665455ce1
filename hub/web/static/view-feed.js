// The announcement feed: newest first, live, with audio playback and a push prompt.
import { api, localAudio } from "./api.js";
import { h, icon, mount } from "./dom.js";
import { ago, dateTime } from "./format.js";
import { t } from "./i18n.js";
import { enablePush, pushState } from "./push.js";
import { empty, fail, pageHead, toast } from "./ui.js";

const PAGE = 30;

export function render(root, { store }) {
  const prompt = h("div");
  const list = h("div", { dataset: { feed: "1" }, attrs: { "aria-live": "polite" } });
  const more = h("button", { class: "btn btn-block", type: "button", text: t("logs.more"), hidden: true });
  const seen = new Set();
  let newest = 0;
  let offset = 0;

  mount(root, pageHead(t("feed.title"), store.area ? store.area.name : ""), prompt, list, more);

  function card(n, fresh) {
    const audio = localAudio(n.audio_url);
    const urgent = n.priority === "emergency";
    // The hub's "emergency over" notice (by its ref): an all-clear, drawn green and titled in
    // the reader's language (the hub writes notices in Vietnamese for text channels).
    const over = (n.ref || "").startsWith("emergency-end:");
    const badge = over ? "ok" : { emergency: "bad", priority: "warn" }[n.priority] || "info";
    const label = over ? t("feed.all_clear") : n.audience === "staff" ? t("feed.staff") : t(`priority.${n.priority}`);
    return h("article", { class: `card feed-item${fresh ? " fresh" : ""}${urgent ? " urgent" : ""}`, dataset: { notification: String(n.id), ...(over ? { over: "emergency" } : {}) } },
      h("div", { class: "head" },
        h("span", { class: `pill ${badge}` }, label),
        h("time", { class: "muted small", dateTime: n.created_at, title: dateTime(n.created_at), text: ago(n.created_at) })),
      h("h3", { text: over ? t("feed.emergency_over") : n.title }),
      n.body && n.body !== n.title ? h("p", { text: n.body }) : null,
      audio ? h("audio", { controls: true, preload: "metadata", src: audio, ariaLabel: t("feed.listen_to", { title: n.title }) }) : null);
  }

  function add(items, { top = false, fresh = false } = {}) {
    const cards = [];
    for (const n of items) {
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      newest = Math.max(newest, n.id);
      cards.push(card(n, fresh));
    }
    const placeholder = list.querySelector(".empty-card");
    if (placeholder && cards.length) placeholder.remove();
    if (top) list.prepend(...cards);
    else list.append(...cards);
  }

  async function loadPage() {
    more.disabled = true;
    try {
      const page = await api(`${store.base}/notifications?limit=${PAGE}&offset=${offset}`);
      if (offset === 0) store.keepFeed(page.items); // for opening without the hub
      offset += PAGE;
      add(page.items);
      more.hidden = offset >= page.total;
      if (!seen.size) mount(list, h("div", { class: "card empty-card" }, empty(t("feed.none"))));
    } catch (err) {
      if (err.status) fail(err);
      else if (!seen.size && store.feed.length) add(store.feed); // the hub is unreachable: the kept items
    }
    more.disabled = false;
  }

  async function catchUp() {
    if (!newest) return loadPage();
    try {
      const page = await api(`${store.base}/notifications?after_id=${newest}&limit=100`);
      add(page.items, { top: true, fresh: true });
    } catch {
      // shown by the banner
    }
    return null;
  }

  function arrived(n) {
    add([n], { top: true, fresh: true });
    if (document.visibilityState === "visible") toast(t("feed.new", { title: n.title }));
  }

  async function drawPrompt() {
    const state = await pushState();
    if (state !== "off") {
      mount(prompt);
      return;
    }
    const button = h("button", { class: "btn btn-primary", type: "button", text: t("push.enable"), dataset: { action: "enable-push" } });
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await enablePush();
        toast(t("push.enabled"), "ok");
        mount(prompt);
      } catch (err) {
        fail(err);
        button.disabled = false;
      }
    });
    mount(prompt, h("section", { class: "card", style: { display: "flex", gap: "12px", alignItems: "center" } },
      h("span", { class: "icon-wrap info", style: { width: "40px", height: "40px", borderRadius: "10px", display: "grid", placeItems: "center" } }, icon("bell")),
      h("div", { style: { flex: "1" } }, h("h2", { text: t("push.title") }), h("p", { class: "muted small", text: t("push.explain") })),
      button));
  }

  more.addEventListener("click", loadPage);
  loadPage();
  drawPrompt();
  const offs = [
    store.on("notification", arrived),
    store.on("staff_notification", arrived),
    store.on("feed_hello", () => catchUp()),
  ];
  const tick = setInterval(() => {
    for (const el of list.querySelectorAll("time")) el.textContent = ago(el.dateTime);
  }, 30000);
  return {
    cleanup: () => { offs.forEach((off) => off()); clearInterval(tick); },
    refresh: catchUp,
  };
}
