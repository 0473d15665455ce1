// Copy a text, or hand a link to the phone's share sheet (Zalo, Messenger, SMS…).
import { toast } from "./ui.js";
import { t } from "./i18n.js";

/** Put ``text`` on the clipboard; true when it got there. */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try {
      await navigator.clipboard.writeText(text);
      return true;
    } catch {
      // refused (no permission, page not focused): try the old way below
    }
  }
  // Over plain http on the area's network there is no Clipboard API: a selected, hidden
  // field and the old copy command still work in the phones' browsers.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  Object.assign(area.style, { position: "fixed", top: "0", left: "0", opacity: "0" });
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** Copy and say so; ``doneKey`` names what was copied. */
export async function copyAndTell(text, doneKey = "share.copied") {
  const ok = await copyText(text);
  toast(ok ? t(doneKey) : t("share.copy_failed"), ok ? "ok" : "bad");
  return ok;
}

/** The share sheet where the phone has one (Web Share), else copy the link. */
export async function shareLink({ title, text, url }) {
  if (typeof navigator.share === "function") {
    try {
      await navigator.share({ title, text, url });
      return "shared";
    } catch (err) {
      // Closing the sheet is the user's choice, not a failure.
      if (err && err.name === "AbortError") return "cancelled";
    }
  }
  return (await copyAndTell(url)) ? "copied" : "failed";
}

/** The hub's SVG (a QR code) as an element, parsed as SVG so nothing in it can run. */
export function svgFromHub(markup, label) {
  const doc = new DOMParser().parseFromString(markup, "image/svg+xml");
  const svg = document.importNode(doc.documentElement, true);
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", label);
  return svg;
}
