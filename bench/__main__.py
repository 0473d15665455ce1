"""``python -m bench [name ...]``: run the benchmarks, print a table, write bench/results.json.

Names: latency, fanout, ingest, schedule, scale, api, protocols, replicas (default: all, in that order).
``--quick`` runs each with smaller sizes, to check the set-up (its figures are not the targets').
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import import_module
from pathlib import Path
from typing import Any

from bench.harness import Result, ensure_mosquitto_on_path

NAMES = ("latency", "fanout", "ingest", "schedule", "scale", "api", "protocols", "replicas")
QUICK: dict[str, dict[str, Any]] = {
    "latency": {"commands": 200},
    "fanout": {"lights": 200, "speakers": 200, "repeats": 2},
    "ingest": {"messages": 10_000, "lights": 200, "cameras": 200},
    "schedule": {"zones": 4, "per_zone": 10, "steps": 6, "speakers": 20},
    "scale": {"devices": 10_000, "connections": 4, "pages": 50},
    "api": {"seconds": 3.0},
    "protocols": {"lights": 200, "repeats": 2},
    "replicas": {"messages": 6_000, "lights": 100, "cameras": 100},
}
DEFAULT_OUT = Path(__file__).resolve().parent / "results.json"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mosquitto = subprocess.run(
            ["mosquitto", "-h"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.splitlines()[0]
    except (OSError, IndexError, subprocess.SubprocessError):
        mosquitto = "?"
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "system": platform.platform(),
        "mosquitto": mosquitto,
    }


def fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if not math.isfinite(value):
        return str(value)
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def table(results: list[Result]) -> str:
    rows = [("benchmark", "value", "unit", "baseline", "ratio", "target", "met")]
    for r in results:
        met = "—" if r.met is None else ("yes" if r.met else "NO")
        rows.append((r.name, fmt(r.value), r.unit, fmt(r.baseline), fmt(r.ratio), r.target or "—", met))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_one(name: str, quick: bool) -> list[Result]:
    module = import_module(f"bench.{name}")
    runner: Callable[..., list[Result]] = module.run
    load = os.getloadavg()[0]
    started = time.monotonic()
    try:
        results = runner(**(QUICK[name] if quick else {}))
    except Exception as exc:
        traceback.print_exc()
        results = [
            Result(f"{name}.error", float("nan"), "", target="runs", met=False, detail={"error": repr(exc)})
        ]
    took = time.monotonic() - started
    for r in results:
        r.detail.setdefault("load_average_before", round(load, 2))
        r.detail.setdefault("benchmark_seconds", round(took, 1))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("names", nargs="*", metavar="name", help=", ".join(NAMES))
    parser.add_argument("--quick", action="store_true", help="small sizes, to check the set-up only")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the JSON results")
    args = parser.parse_args(argv)
    names = args.names or list(NAMES)
    unknown = sorted(set(names) - set(NAMES))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    ensure_mosquitto_on_path()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    print(f"khu hub benchmarks, {when}, {info['host']}: {info['cores']} × {info['cpu']}", flush=True)
    results: list[Result] = []
    for name in names:
        print(f"\n== {name}", flush=True)
        mine = run_one(name, args.quick)
        for r in mine:
            print(
                f"   {r.name}: {fmt(r.value)} {r.unit} {json.dumps(r.detail, ensure_ascii=False)}", flush=True
            )
        results += mine
    print()
    print(table(results))
    payload = []
    for r in results:
        entry = r.as_json()
        entry["measured_at"] = when
        entry["machine"] = info
        entry["quick"] = args.quick
        payload.append(entry)
    args.out.write_text(json.dumps(payload, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nwrote {args.out}")
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
