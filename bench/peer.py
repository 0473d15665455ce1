"""The other side of a benchmark, in its own process: simulated devices or a bare MQTT client.

``python -m bench.peer fleet ...``  a ``SimFleet`` (no action delay, no heartbeats)
``python -m bench.peer echo ...``   a bare responder: ``bare/<id>/cmd`` is answered on ``bare/<id>/state``
``python -m bench.peer floor ...``  the stack's floor for a tap: HTTP -> FastAPI -> MQTT echo -> answer
``python -m bench.peer sink ...``   a bare QoS 1 subscriber that counts what it drained

Each prints one JSON object per line on stdout ({"ready": ...} first) and stops on SIGTERM.
Times are ``time.monotonic()``, which is the same clock in every process of the machine.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.accounts import link_config, read_accounts
from bench.floor import serve
from devices.messages import Outbound
from devices.mqtt_client import MqttLink, Received
from devices.sim import SimFleet, SimTimings
from hub.simulated.demo import layout_from_args, load_simulator_accounts

BARE_ROOT = "bare"


def say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def wait_for_stop() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def run_fleet(args: argparse.Namespace) -> None:
    specs = layout_from_args(args)
    timings = SimTimings(
        action_delay_s=0.0, play_duration_s=args.play_s, heartbeat_s=0.0, motion_per_hour=0.0
    )
    conns, control = load_simulator_accounts(args.accounts)
    fleet = SimFleet(
        "127.0.0.1",
        args.port,
        args.area,
        specs,
        connections=args.connections,
        timings=timings,
        credentials=conns,
        control_credentials=control,
    )
    started = time.monotonic()
    fleet.start()
    ok = fleet.wait_online(args.timeout)
    say(ready=ok, devices=len(specs), seconds=round(time.monotonic() - started, 3))
    if ok:
        wait_for_stop()
    fleet.stop()


def run_echo(args: argparse.Namespace) -> None:
    """A device stripped to the bone: the command's bytes come back as its state."""
    link: MqttLink

    def answer(msg: Received) -> None:
        link.publish(Outbound(msg.topic[: -len("cmd")] + "state", msg.payload, qos=1))

    link = MqttLink(
        link_config(
            args.port,
            "bench-echo",
            read_accounts(args.account),
            persistent=False,
            subscriptions=(f"{BARE_ROOT}/+/cmd",),
        ),
        on_message=answer,
    )
    link.start()
    say(ready=link.wait_connected(10))
    wait_for_stop()
    link.stop()


def _publish(link: MqttLink, out: Outbound) -> None:
    link.publish(out)


def run_sink(args: argparse.Namespace) -> None:
    """A bare subscriber with the hub's filters and a persistent session, as the hub has."""
    count = 0
    probe = f"{BARE_ROOT}/sink-probe"
    ready = threading.Event()
    first = 0.0

    def got(msg: Received) -> None:
        nonlocal count, first
        if msg.topic == probe:
            ready.set()
            return
        count += 1
        if count == 1:
            first = time.monotonic()
        if count == args.expect:
            say(done=time.monotonic(), first=first, count=count)

    filters = [f"khu/v1/+/+/{c}" for c in ("state", "status", "event", "info")]
    link = MqttLink(
        link_config(
            args.port,
            args.client_id,
            read_accounts(args.account),
            persistent=True,
            subscriptions=(*filters, probe),
        ),
        on_message=got,
        on_connected=lambda: _publish(link, Outbound(probe, b"1", qos=1)),
    )
    link.start()
    say(ready=ready.wait(10))
    wait_for_stop()
    say(count=count)
    link.stop()
    # Leave no persistent session behind: the broker would queue later benchmarks' traffic for it.
    clean = MqttLink(link_config(args.port, args.client_id, read_accounts(args.account), persistent=False))
    clean.start()
    clean.wait_connected(5)
    clean.stop()


def run_floor(args: argparse.Namespace) -> None:
    """The stack's floor for a tap (``bench/floor.py``); answers on ``--http-port``."""
    serve(args.port, read_accounts(args.account), args.http_port, lambda ok: say(ready=ok))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peer")
    sub = parser.add_subparsers(dest="role", required=True)
    fleet = sub.add_parser("fleet")
    fleet.add_argument("--port", type=int, required=True)
    fleet.add_argument("--area", required=True)
    fleet.add_argument("--lights", type=int, default=0)
    fleet.add_argument("--streets", type=int, default=1)
    fleet.add_argument("--speakers", type=int, default=0)
    fleet.add_argument("--speaker-zones", type=int, default=1)
    fleet.add_argument("--cameras", type=int, default=0)
    fleet.add_argument("--connections", type=int, default=1)
    fleet.add_argument("--play-s", type=float, default=2.0)
    fleet.add_argument("--timeout", type=float, default=120)
    fleet.add_argument(
        "--accounts", type=Path, required=True, help="as hub.simulated.demo.provision_simulator writes"
    )
    echo = sub.add_parser("echo")
    echo.add_argument("--port", type=int, required=True)
    echo.add_argument("--account", type=Path, required=True)
    floor = sub.add_parser("floor")
    floor.add_argument("--port", type=int, required=True)
    floor.add_argument("--account", type=Path, required=True)
    floor.add_argument("--http-port", type=int, required=True)
    sink = sub.add_parser("sink")
    sink.add_argument("--port", type=int, required=True)
    sink.add_argument("--account", type=Path, required=True)
    sink.add_argument("--client-id", default="bench-sink")
    sink.add_argument("--expect", type=int, required=True)
    args = parser.parse_args(argv)
    {"fleet": run_fleet, "echo": run_echo, "sink": run_sink, "floor": run_floor}[args.role](args)


if __name__ == "__main__":
    main()
