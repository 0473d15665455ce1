// Incidents on the cameras page: outages that began together (a power cut), one line each,
// opening to the cameras in it. The head got one notification for each of these lines.
import { api } from "./api.js";
import { h, mount } from "./dom.js";
import { dateTime, duration } from "./format.js";
import { t } from "./i18n.js";
import { fail, sheet } from "./ui.js";

const KINDS = ["camera", "light", "speaker"];
const PAGE = 50;

/** "cổng gw 1, 40 camera, 12 đèn": the summary when the head was told, else its cameras. */
export function incidentWhat(inc) {
  const parts = inc.gateways.map((name) => t("incidents.gateway", { name }));
  const kinds = Object.keys(inc.kinds).length ? inc.kinds : { camera: inc.cameras };
  for (const kind of KINDS) if (kinds[kind]) parts.push(t(`incidents.kind.${kind}`, { n: kinds[kind] }));
  return parts.join(", ");
}

/** The card listing an area's latest incidents; ``load()`` refreshes it. */
export function incidentsCard(store) {
  const list = h("ul", { class: "list" });
  const card = h("section", { class: "card", dataset: { incidents: "" }, hidden: true },
    h("h2", { text: t("incidents.title") }), list);

  async function load() {
    let page;
    try {
      page = await api(`${store.base}/incidents?limit=10`);
    } catch (err) {
      if (err.status) fail(err);
      return;
    }
    card.hidden = !page.items.length;
    mount(list, page.items.map((inc) => h("li", {}, h("button", {
      class: "item", type: "button", dataset: { incident: String(inc.id), ongoing: String(inc.ongoing) },
      onclick: () => open(store, inc.id),
    },
    h("span", { class: "body" },
      h("span", { class: "title", text: incidentWhat(inc) }),
      h("span", { class: "meta" }, h("span", { text: dateTime(inc.started_at) }),
        inc.alerted ? null : h("span", { text: t("incidents.not_alerted") }))),
    h("span", { class: `pill ${inc.ongoing ? "bad" : ""}`, text: inc.ongoing ? t("incidents.ongoing") : duration(inc.duration_s) })))));
  }
  return { card, load };
}

/** One camera of an incident in its sheet. */
function deviceLine(d) {
  return h("li", { class: "item", dataset: { device: d.device_id } },
    h("span", { class: "body" },
      h("span", { class: "title", text: d.name }),
      h("span", { class: "meta" }, h("span", { text: d.device_id }),
        d.outages > 1 ? h("span", { text: t("incidents.flaps", { n: d.outages }) }) : null)),
    h("span", { class: `pill ${d.ongoing ? "bad" : "ok"}`, text: d.ongoing ? t("cameras.offline") : t("cameras.online") }));
}

async function open(store, id) {
  // A page of cameras at a time: a power cut's incident has thousands.
  const path = (offset) => `${store.base}/incidents/${id}?limit=${PAGE}&offset=${offset}`;
  let inc;
  try {
    inc = await api(path(0));
  } catch (err) {
    fail(err);
    return;
  }
  const list = h("ul", { class: "list" });
  const more = h("button", { class: "btn btn-block", type: "button", text: t("incidents.more"), hidden: true });
  let shown = 0;
  const show = (page) => {
    list.append(...page.items.map(deviceLine));
    shown += page.items.length;
    more.hidden = !page.items.length || shown >= page.total;
  };
  more.onclick = async () => {
    more.disabled = true;
    try {
      show((await api(path(shown))).devices);
    } catch (err) {
      fail(err);
    } finally {
      more.disabled = false;
    }
  };
  show(inc.devices);
  sheet(t("incidents.of", { time: dateTime(inc.started_at) }), (body) => {
    mount(body, // not body.append, which writes a null (no zones) out as "null"
      h("p", { class: "muted small", text: incidentWhat(inc) }),
      inc.zones.length ? h("p", { class: "muted small", text: t("incidents.zones", { zones: inc.zones.join(", ") }) }) : null,
      h("p", { class: "small", text: inc.ongoing ? t("incidents.ongoing") : t("incidents.lasted", { d: duration(inc.duration_s) }) }),
      list,
      more);
  });
}
