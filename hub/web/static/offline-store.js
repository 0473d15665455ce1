// The last known picture of the area, kept on the phone (IndexedDB) for opening without the hub.
// One record: who is logged in, their areas, the open area with its devices' confirmed state,
// emergency mode and the feed's latest items, and when that was last known to be current.
import { getLang } from "./i18n.js";

const DB = "khu-offline";
const STORE = "picture";
const KEY = "last";
const SAVE_AFTER_MS = 800; // a burst of live updates is written once

let dbPromise = null;

function open() {
  if (!("indexedDB" in self)) return Promise.reject(new Error("no IndexedDB"));
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    dbPromise.catch(() => (dbPromise = null));
  }
  return dbPromise;
}

async function run(mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = work(tx.objectStore(STORE));
    tx.oncomplete = () => resolve(req.result);
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
}

/** The kept picture, or null (none kept, or private browsing without IndexedDB). */
export async function loadPicture() {
  try {
    return (await run("readonly", (s) => s.get(KEY))) || null;
  } catch {
    return null;
  }
}

/** Forget the picture (log-out: a phone may be shared). */
export async function forgetPicture() {
  cancelSave();
  try {
    await run("readwrite", (s) => s.delete(KEY));
  } catch {
    // nothing kept
  }
}

let timer = null;
let pendingSave = null;

function cancelSave() {
  clearTimeout(timer);
  timer = null;
  pendingSave = null;
}

/** Write the picture of ``store`` soon (``context()`` gives { me, areas }); skipped once the store is closed. */
export function savePictureSoon(store, context) {
  pendingSave = () => {
    if (store.closed || store.fromPicture || store.loading) return null;
    const { me, areas } = context();
    if (!me) return null;
    const picture = {
      at: new Date().toISOString(),
      lang: getLang(),
      me,
      areas,
      code: store.code,
      area: store.area,
      devices: [...store.devices.values()],
      emergency: store.emergency,
      feed: store.feed,
    };
    return run("readwrite", (s) => s.put(picture, KEY)).catch(() => {});
  };
  clearTimeout(timer);
  timer = setTimeout(flushPicture, SAVE_AFTER_MS);
}

/** Write a pending picture now (the page is being hidden or the hub just went away). */
export function flushPicture() {
  const save = pendingSave;
  cancelSave();
  return save ? save() : null;
}
