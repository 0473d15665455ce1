// "More": the screens that do not fit in the tab bar.
import { h, icon, mount } from "./dom.js";
import { t } from "./i18n.js";
import { pageHead } from "./ui.js";

export function render(root, { store, me }) {
  const pending = store.pendingDevices().length;
  const offlineCams = store.list("camera").filter((d) => !d.online).length;
  const links = [
    { href: "#/cameras", icon: "camera", label: t("nav.cameras"), meta: offlineCams ? t("more.cameras_down", { n: offlineCams }) : t("more.cameras_ok") },
    { href: "#/logs/audit", icon: "list", label: t("nav.logs"), meta: t("more.logs") },
    { href: "#/devices", icon: "chip", label: t("nav.devices"), meta: pending ? t("devices.pending_count", { n: pending }) : t("more.devices_none"), badge: pending },
    { href: "#/feed", icon: "bell", label: t("nav.feed"), meta: t("more.feed") },
    me.role === "admin" || me.role === "head" ? { href: "#/invites", icon: "ticket", label: t("nav.invites"), meta: t("more.invites") } : null,
    me.role === "admin" || me.role === "head" ? { href: "#/people", icon: "user", label: t("nav.people"), meta: t(me.role === "admin" ? "more.people_admin" : "more.people_head") } : null,
    { href: "#/settings", icon: "gear", label: t("nav.settings"), meta: t("more.settings") },
  ].filter(Boolean);
  mount(root, pageHead(t("nav.more"), ""),
    h("nav", { class: "card flush", ariaLabel: t("nav.more") }, h("ul", { class: "list" }, links.map((l) => h("li", {},
      h("a", { class: "item", href: l.href },
        h("span", { class: "icon-wrap info" }, icon(l.icon, 20)),
        h("span", { class: "body" }, h("span", { class: "title", text: l.label }), h("span", { class: "meta", text: l.meta })),
        l.badge ? h("span", { class: "badge", text: String(l.badge) }) : null,
        h("span", { class: "chev" }, icon("chevron", 18))))))));
}
