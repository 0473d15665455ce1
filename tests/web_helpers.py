"""Helpers for the phone app's browser tests: a real HTTP server and Debian's Chromium."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI

from hub.api.app import UVICORN_OPTIONS
from hub.broker.process import free_port

CHROMIUM = os.environ.get("KHU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# A mid-range Android phone: 360×800 CSS pixels, touch, Vietnamese, the area's time zone.
PHONE: dict[str, Any] = {
    "viewport": {"width": 360, "height": 800},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",
    "timezone_id": "Asia/Ho_Chi_Minh",
}
SCREENSHOTS_ENV = "KHU_WEB_SCREENSHOTS"  # a folder: keep the screenshots (docs/screenshots)


class LiveServer:
    """The hub's app under uvicorn in a thread, on one port it can stop and start again."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                sock.bind(("127.0.0.1", self.port))
                break
            except OSError:
                assert time.monotonic() < deadline, f"port {self.port} stayed busy"
                time.sleep(0.1)
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1, **UVICORN_OPTIONS
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        self._server, self._thread, self._sock = server, thread, sock

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        if self._sock is not None:
            self._sock.close()
        self._server = self._thread = self._sock = None


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def screenshot_dir(fallback: Path) -> Path:
    """Where screenshots go: the folder named by KHU_WEB_SCREENSHOTS, else the test's tmp dir."""
    folder = Path(os.environ.get(SCREENSHOTS_ENV) or fallback)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Every visible control a finger must hit, with its size; hidden inputs are measured through
# their label (the chip or segment drawn around them).
TOUCH_TARGETS_JS = """
() => {
  const seen = [];
  const selector = 'button, a[href], select, textarea, [role=switch], input:not([type=hidden])';
  for (const el of document.querySelectorAll(selector)) {
    let box = el;
    const style = getComputedStyle(el);
    if (el.tagName === 'INPUT' && (style.opacity === '0' || el.classList.contains('sr-only'))) {
      box = el.closest('label') || el;
    }
    const r = box.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if (getComputedStyle(box).visibility === 'hidden') continue;
    const text = (el.getAttribute('aria-label') || el.textContent || el.name || el.type || '').trim();
    seen.push({tag: el.tagName, text: text.slice(0, 40), w: r.width, h: r.height});
  }
  return seen;
}
"""

# Controls without an accessible name (a screen reader would say only "button" or "edit").
UNLABELLED_JS = """
() => {
  const bad = [];
  for (const el of document.querySelectorAll('button, a[href], select, textarea, input:not([type=hidden])')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0 && !el.closest('label')) continue;
    const named = (el.getAttribute('aria-label') || '').trim() || el.getAttribute('aria-labelledby')
      || (el.labels && el.labels.length) || (['BUTTON', 'A'].includes(el.tagName) && el.textContent.trim());
    if (!named) bad.push(el.outerHTML.slice(0, 80));
  }
  return bad;
}
"""

# Text whose contrast with its background is under WCAG AA (4.5:1; 3:1 for large text).
CONTRAST_JS = """
() => {
  const rgb = (c) => { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const s = getComputedStyle(e);
      if (s.backgroundImage !== 'none') return null;  // a gradient or picture: not measured
      const c = rgb(s.backgroundColor);
      if (c.length < 4 || c[3] > 0.9) return c;
    }
    return [255, 255, 255, 1];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el) continue;
    const r = el.getBoundingClientRect();
    const s = getComputedStyle(el);
    if (r.width === 0 || s.visibility === 'hidden') continue;
    if (el.closest('[disabled], [aria-hidden=true], dialog:not([open])')) continue;
    if (parseFloat(s.opacity) < 1) continue;
    const bg = background(el);
    if (!bg) continue;
    const fg = rgb(s.color);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(s.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(s.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${node.textContent.trim().slice(0, 30)} ${ratio.toFixed(2)}`);
  }
  return bad;
}
"""


def wait_for_js(page: Any, expression: str, timeout: float = 30.0) -> None:
    """Wait until ``expression`` is true in the page, asking from here every 50 ms.

    Playwright's ``wait_for_function`` evaluates a string predicate with ``eval`` inside the
    page after its first try, which the app's Content Security Policy refuses; each
    ``evaluate`` from here is not subject to it.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout:.0f}s: {expression}"
        page.wait_for_timeout(50)


def wait_for_picture(page: Any, camera: str, width: int | None = None, timeout: float = 30.0) -> None:
    """Wait until a camera's snapshot has loaded (``width`` pixels wide, if given).

    The app loads pictures lazily, when they come near the screen, and a live update may draw
    the figure again meanwhile, so each try finds the picture afresh and brings it into view.
    """
    wide = f"=== {width}" if width else "> 0"
    wait_for_js(
        page,
        f"""(() => {{
            const img = document.querySelector('[data-snapshot="{camera}"] img');
            img?.scrollIntoView({{ block: "center" }});
            return img?.naturalWidth {wide};
        }})()""",
        timeout,
    )
