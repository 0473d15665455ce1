// Web Push on this phone: subscribe with the hub's VAPID key, or stop.
import { api } from "./api.js";
import { t } from "./i18n.js";

function supported() {
  return "serviceWorker" in navigator && "PushManager" in window && "Notification" in window && window.isSecureContext;
}

async function registration() {
  const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error(t("push.no_worker"))), 5000));
  return Promise.race([navigator.serviceWorker.ready, timeout]);
}

function keyBytes(base64url) {
  const pad = "=".repeat((4 - (base64url.length % 4)) % 4);
  const raw = atob((base64url + pad).replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

/** "unsupported", "denied", "on" or "off". */
export async function pushState() {
  if (!supported()) return "unsupported";
  if (Notification.permission === "denied") return "denied";
  try {
    const reg = await registration();
    return (await reg.pushManager.getSubscription()) ? "on" : "off";
  } catch {
    return "off";
  }
}

/**
 * What the browser's refusal to subscribe means, in the user's language: its own message
 * ("Registration failed - permission denied") is English and names no remedy.
 */
export function subscribeFailed(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || Notification.permission === "denied") return t("push.denied_how");
  if (name === "AbortError" || name === "NotSupportedError") return t("push.service_failed");
  if (name === "InvalidStateError") return t("push.no_worker");
  return t("push.failed");
}

export async function enablePush() {
  if (!supported()) throw new Error(t("push.unsupported"));
  const permission = await Notification.requestPermission();
  if (permission !== "granted") throw new Error(t("push.denied_how"));
  const reg = await registration();
  const { public_key: key } = await api("/api/v1/push/vapid-public-key");
  let sub;
  try {
    sub = await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
  } catch (err) {
    throw new Error(subscribeFailed(err));
  }
  const json = sub.toJSON();
  await api("/api/v1/push/subscriptions", { method: "POST", json: { endpoint: json.endpoint, expirationTime: json.expirationTime ?? null, keys: json.keys } });
}

export async function disablePush() {
  const reg = await registration();
  const sub = await reg.pushManager.getSubscription();
  if (!sub) return;
  await api("/api/v1/push/subscriptions", { method: "DELETE", json: { endpoint: sub.endpoint } });
  await sub.unsubscribe();
}
