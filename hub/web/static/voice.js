// Record a voice announcement on the phone (MediaRecorder): elapsed time, a level meter, a cap on
// its length, play it back, then discard it or use it. The hub turns the recording into the WAV
// every speaker plays (hub/broadcasts/recordings.py).
import { h, mount } from "./dom.js";
import { duration } from "./format.js";
import { t } from "./i18n.js";

export const MAX_SECONDS = 300;
// What each browser records into, best first: Chromium WebM/Opus, Firefox Ogg/Opus, Safari MP4.
const TYPES = ["audio/webm;codecs=opus", "audio/webm", "audio/ogg;codecs=opus", "audio/mp4"];

function clockOf(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

function pickType() {
  if (typeof MediaRecorder.isTypeSupported !== "function") return "";
  return TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

/** Why the microphone could not be used, in the user's words and with what to do. */
export function micProblem(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return t("voice.denied");
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") return t("voice.no_mic");
  if (name === "NotReadableError" || name === "AbortError") return t("voice.busy");
  return t("voice.failed", { reason: (err && err.message) || String(err) });
}

function supported() {
  return Boolean(window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia && window.MediaRecorder);
}

/**
 * The recorder. Returns { el, recording() → { blob, name, seconds } | null once "use" was tapped,
 * reset(), stop() } (stop: release the microphone when the screen is left).
 */
export function recorder({ maxSeconds = MAX_SECONDS, onChange = () => {} } = {}) {
  const el = h("div", { class: "recorder", dataset: { recorder: "idle" } });
  let stream = null;
  let media = null;
  let chunks = [];
  let started = 0;
  let ticker = null;
  let audioCtx = null;
  let result = null; // { blob, url, seconds, name }
  let used = false;
  let note = "";

  function set(state) {
    el.dataset.recorder = state;
    onChange(state);
  }

  function release() {
    clearInterval(ticker);
    ticker = null;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    if (audioCtx) audioCtx.close().catch(() => {});
    audioCtx = null;
  }

  function drop() {
    if (result) URL.revokeObjectURL(result.url);
    result = null;
    used = false;
  }

  function idle(problem = "") {
    set(problem ? "error" : "idle");
    mount(el,
      problem ? h("p", { class: "error-text", role: "alert", dataset: { micProblem: "1" }, text: problem }) : null,
      h("button", { class: "btn btn-block rec-start", type: "button", dataset: { action: "record-start" }, onclick: start },
        h("span", { class: "rec-dot", ariaHidden: "true" }), t(problem ? "voice.try_again" : "voice.start")),
      h("p", { class: "hint muted small", text: t("voice.hint", { max: duration(maxSeconds) }) }));
  }

  async function start() {
    note = "";
    if (!supported()) {
      idle(window.isSecureContext === false ? t("voice.insecure") : t("voice.unsupported"));
      return;
    }
    set("asking");
    mount(el, h("p", { class: "muted", dataset: { asking: "1" }, text: t("voice.asking") }));
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true, noiseSuppression: true } });
    } catch (err) {
      idle(micProblem(err));
      return;
    }
    if (!el.isConnected) { // the screen was left while the browser asked
      release();
      return;
    }
    const type = pickType();
    try {
      media = new MediaRecorder(stream, type ? { mimeType: type } : {});
    } catch (err) {
      release();
      idle(t("voice.failed", { reason: err.message }));
      return;
    }
    chunks = [];
    media.addEventListener("dataavailable", (e) => { if (e.data && e.data.size) chunks.push(e.data); });
    media.addEventListener("stop", finished);
    media.start(1000);
    started = performance.now();
    drawRecording();
  }

  function drawRecording() {
    set("recording");
    const time = h("span", { class: "rec-time num", text: "0:00" });
    const bar = h("span", { class: "rec-progress-fill" });
    const progress = h("div", {
      class: "rec-progress", role: "progressbar", ariaLabel: t("voice.elapsed"),
      attrs: { "aria-valuemin": 0, "aria-valuemax": maxSeconds, "aria-valuenow": 0 },
    }, bar);
    const level = h("span", { class: "rec-level-fill" });
    mount(el,
      h("div", { class: "rec-live" },
        h("span", { class: "rec-dot live", ariaHidden: "true" }),
        h("span", { class: "rec-label", text: t("voice.recording") }),
        time, h("span", { class: "muted small num", text: `/ ${clockOf(maxSeconds)}` })),
      h("div", { class: "rec-level", ariaHidden: "true", dataset: { level: "0" } }, level),
      progress,
      h("button", { class: "btn btn-danger btn-block", type: "button", dataset: { action: "record-stop" }, onclick: () => stopRecording() },
        h("span", { class: "rec-square", ariaHidden: "true" }), t("voice.stop")));
    const meter = levelMeter();
    ticker = setInterval(() => {
      // Leaving the screen drops the recording and frees the microphone (its light goes off).
      if (!el.isConnected) { stop(); return; }
      const secs = (performance.now() - started) / 1000;
      time.textContent = clockOf(secs);
      bar.style.width = `${Math.min(100, (secs / maxSeconds) * 100)}%`;
      progress.setAttribute("aria-valuenow", String(Math.floor(secs)));
      progress.setAttribute("aria-valuetext", clockOf(secs));
      const v = meter();
      level.style.width = `${Math.round(v * 100)}%`;
      level.parentElement.dataset.level = String(Math.round(v * 100));
      if (secs >= maxSeconds) {
        note = t("voice.max_reached", { max: duration(maxSeconds) });
        stopRecording();
      }
    }, 100);
  }

  /** A 0…1 loudness reader from the microphone (0 when the browser has no Web Audio). */
  function levelMeter() {
    try {
      audioCtx = new AudioContext();
      const analyser = audioCtx.createAnalyser();
      analyser.fftSize = 512;
      audioCtx.createMediaStreamSource(stream).connect(analyser);
      const samples = new Uint8Array(analyser.fftSize);
      return () => {
        analyser.getByteTimeDomainData(samples);
        let sum = 0;
        for (const s of samples) sum += ((s - 128) / 128) ** 2;
        // Speech sits around 0.05–0.3 RMS: stretch it so a normal voice fills most of the bar.
        return Math.min(1, Math.sqrt(sum / samples.length) * 3);
      };
    } catch {
      return () => 0;
    }
  }

  function stopRecording() {
    clearInterval(ticker);
    ticker = null;
    if (media && media.state !== "inactive") media.stop();
  }

  function finished() {
    const seconds = (performance.now() - started) / 1000;
    const type = (media && media.mimeType) || (chunks[0] && chunks[0].type) || "audio/webm";
    release();
    media = null;
    drop();
    if (!chunks.length) {
      idle(t("voice.empty"));
      return;
    }
    const blob = new Blob(chunks, { type });
    chunks = [];
    const ext = type.includes("ogg") ? "ogg" : type.includes("mp4") ? "m4a" : "webm";
    result = { blob, url: URL.createObjectURL(blob), seconds, name: `ghi-am.${ext}` };
    drawRecorded();
  }

  function drawRecorded() {
    set(used ? "used" : "recorded");
    const length = clockOf(result.seconds);
    mount(el,
      note ? h("p", { class: "hint small", role: "status", text: note }) : null,
      h("p", { class: "rec-summary", dataset: { recorded: String(Math.round(result.seconds)) } },
        used ? h("span", { class: "pill ok", text: t("voice.used") }) : null,
        h("span", { text: t("voice.recorded", { time: length }) })),
      h("audio", { controls: true, src: result.url, preload: "metadata", class: "rec-audio", ariaLabel: t("voice.play") }),
      h("div", { class: "rec-actions" },
        h("button", { class: "btn", type: "button", dataset: { action: "record-discard" }, text: t("voice.discard"), onclick: () => { drop(); idle(); } }),
        used ? null : h("button", { class: "btn btn-primary", type: "button", dataset: { action: "record-use" }, text: t("voice.use"), onclick: () => { used = true; drawRecorded(); } })));
  }

  /** Drop everything without keeping what was being recorded. */
  function stop() {
    if (media && media.state !== "inactive") {
      media.removeEventListener("stop", finished);
      media.stop();
    }
    media = null;
    release();
    drop();
  }

  idle();
  return {
    el,
    state: () => el.dataset.recorder,
    recording: () => (used && result ? { blob: result.blob, name: result.name, seconds: result.seconds } : null),
    reset: () => { stop(); note = ""; idle(); },
    stop,
  };
}
