"""The app's PNG icons (a street lamp on teal), drawn without an imaging library."""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from hub.web.assets import STATIC_DIR

Rgb = tuple[int, int, int]
Shape = Callable[[float, float], float]  # signed distance: negative inside

TEAL: Rgb = (15, 98, 92)
WHITE: Rgb = (255, 255, 255)
WARM: Rgb = (252, 211, 77)
SAMPLES = 3  # per axis, for antialiasing


def _box(x0: float, y0: float, x1: float, y1: float, r: float = 0.0) -> Shape:
    cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2 - r, (y1 - y0) / 2 - r

    def sd(x: float, y: float) -> float:
        qx, qy = abs(x - cx) - hx, abs(y - cy) - hy
        return math.hypot(max(qx, 0.0), max(qy, 0.0)) + min(max(qx, qy), 0.0) - r

    return sd


def _arc(cx: float, cy: float, radius: float, width: float, a0: float, a1: float) -> Shape:
    """A ring segment between angles a0..a1 (radians, y down), with round ends."""

    def sd(x: float, y: float) -> float:
        angle = math.atan2(y - cy, x - cx) % (2 * math.pi)
        if a0 <= angle <= a1:
            return abs(math.hypot(x - cx, y - cy) - radius) - width / 2
        ends = [(cx + radius * math.cos(a), cy + radius * math.sin(a)) for a in (a0, a1)]
        return min(math.hypot(x - ex, y - ey) for ex, ey in ends) - width / 2

    return sd


def _cone(top: float, bottom: float, x_top: tuple[float, float], x_bottom: tuple[float, float]) -> Shape:
    def sd(x: float, y: float) -> float:
        if not top <= y <= bottom:
            return 1.0
        f = (y - top) / (bottom - top)
        left = x_top[0] + f * (x_bottom[0] - x_top[0])
        right = x_top[1] + f * (x_bottom[1] - x_top[1])
        return -1.0 if left <= x <= right else 1.0

    return sd


def _union(*shapes: Shape) -> Shape:
    return lambda x, y: min(s(x, y) for s in shapes)


LAMP = _union(
    _box(0.355, 0.25, 0.425, 0.80, 0.03),  # pole
    _box(0.28, 0.77, 0.50, 0.83, 0.03),  # foot
    _arc(0.50, 0.29, 0.11, 0.07, math.pi, 1.5 * math.pi),  # arm bending over
    _box(0.50, 0.145, 0.62, 0.215),  # arm
    _box(0.56, 0.15, 0.78, 0.245, 0.045),  # lamp head
)
LIGHT = _cone(0.245, 0.66, (0.59, 0.75), (0.47, 0.87))


def _pixel(u: float, v: float, scale: float, rounded: bool) -> tuple[int, int, int, int]:
    """Colour at unit coordinates (u, v); the foreground is scaled about the centre."""
    if rounded and _box(0.0, 0.0, 1.0, 1.0, 0.2)(u, v) > 0:
        return (0, 0, 0, 0)
    x, y = 0.5 + (u - 0.5) / scale, 0.5 + (v - 0.5) / scale
    if LAMP(x, y) <= 0:
        return (*WHITE, 255)
    if LIGHT(x, y) <= 0:
        fade = 0.85 - 0.6 * (y - 0.245) / 0.415
        r, g, b = (round(t + fade * (w - t)) for t, w in zip(TEAL, WARM, strict=True))
        return (r, g, b, 255)
    return (*TEAL, 255)


def render(size: int, scale: float = 1.0, rounded: bool = True) -> bytes:
    """RGBA rows of one icon, antialiased by supersampling."""
    rows = bytearray()
    step = 1 / (size * SAMPLES)
    for py in range(size):
        rows.append(0)  # PNG filter: none
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    u = (px * SAMPLES + sx + 0.5) * step
                    v = (py * SAMPLES + sy + 0.5) * step
                    r, g, b, a = _pixel(u, v, scale, rounded)
                    acc = [acc[0] + r * a, acc[1] + g * a, acc[2] + b * a, acc[3] + a]
            alpha = acc[3]
            n = SAMPLES * SAMPLES
            rows += bytes((*(round(c / alpha) if alpha else 0 for c in acc[:3]), round(alpha / n)))
    return bytes(rows)


def png(size: int, rgba_rows: bytes) -> bytes:
    """A minimal PNG file (8-bit RGBA)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rgba_rows, 9))
        + chunk(b"IEND", b"")
    )


ICONS = {
    "icon-192.png": (192, 1.0, True),
    "icon-512.png": (512, 1.0, True),
    # Maskable: full bleed, the drawing inside the central safe circle.
    "icon-maskable-512.png": (512, 0.72, False),
    "apple-touch-icon.png": (180, 0.86, False),
}


def main(folder: Path = STATIC_DIR) -> None:
    """Write every icon into the app's static folder."""
    for name, (size, scale, rounded) in ICONS.items():
        (folder / name).write_bytes(png(size, render(size, scale, rounded)))
        print(f"wrote {folder / name}")


if __name__ == "__main__":
    main()
