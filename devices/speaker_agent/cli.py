"""``khu-speaker``: enrol, be given an account, run (the systemd service), check the board."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path
from types import FrameType

from devices.speaker_agent import config as cfg
from devices.speaker_agent.agent import EXIT_REFUSED, Agent
from devices.speaker_agent.audio import decoders
from devices.speaker_agent.clock import probe
from devices.speaker_agent.enrol import EnrolError, announce, new_secret, wait_accepted
from devices.speaker_agent.output import Mixer

log = logging.getLogger("khu-speaker")
ENROL_PASSWORD_ENV = "KHU_ENROL_PASSWORD"
ACCOUNT_PASSWORD_ENV = "KHU_SPEAKER_PASSWORD"


def _broker(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":") if value.count(":") == 1 else (value, "", "")
    try:
        return (host or value), int(port) if port else 18830
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: give the broker as HOST or HOST:PORT") from None


def _default_device() -> str:
    name = re.sub(r"[^a-z0-9_-]", "-", socket.gethostname().lower()).strip("-_")
    return f"loa-{name}"[:48]


def _secret(env: str, prompt: str) -> str:
    """A password from the environment, else typed (not echoed), else one line of standard input."""
    value = os.environ.get(env) or (getpass.getpass(prompt) if sys.stdin.isatty() else sys.stdin.readline())
    if not value.strip():
        raise cfg.ConfigError(f"no password given (type it, or set ${env})")
    return value.strip()


def _new_config(args: argparse.Namespace, password: str, accepted: bool) -> cfg.AgentConfig:
    host, port = args.broker
    return cfg.AgentConfig(
        host=host,
        port=port,
        area=args.area,
        device=args.device,
        password=password,
        accepted=accepted,
        ca_file=args.ca_file,
        alsa_device=args.alsa_device,
        mixer_control=args.mixer_control,
        cache_dir=args.cache_dir,
        clock_source=args.clock_source,
        enrol_wait_s=args.wait_min * 60,
    ).check()


def enrol(args: argparse.Namespace) -> int:
    enrol_password = _secret(ENROL_PASSWORD_ENV, f"Enrolment password of {args.area}._enrol: ")
    config = _new_config(args, new_secret(), accepted=False)
    cfg.save(config, args.config)  # the secret is kept before it is sent anywhere
    try:
        announce(config, args.enrol_user or f"{args.area}._enrol", enrol_password)
    except EnrolError as exc:
        log.error("%s", exc)
        return 1
    print(f"Saved {args.config}. Ask the area head to accept '{args.device}' in the app (Thiết bị mới).")
    if args.no_wait:
        return 0
    if not wait_accepted(config, args.wait_min * 60):
        log.error("not accepted within %d min: run this again once enrolment is open", args.wait_min)
        return EXIT_REFUSED
    cfg.save(config.with_changes(accepted=True), args.config)
    print("Accepted. Start the service: sudo systemctl enable --now khu-speaker")
    return 0


def account(args: argparse.Namespace) -> int:
    password = _secret(ACCOUNT_PASSWORD_ENV, f"Password of {args.area}.{args.device} (shown by the app): ")
    cfg.save(_new_config(args, password, accepted=True), args.config)
    print(f"Saved {args.config}. Start the service: sudo systemctl enable --now khu-speaker")
    return 0


def run(args: argparse.Namespace) -> int:
    agent = Agent(cfg.load(args.config), args.config)

    def stop(signum: int, frame: FrameType | None) -> None:
        agent.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return agent.run()


def check(args: argparse.Namespace) -> int:
    """What the board offers: clock, decoders, ALSA devices, mixer."""
    config = cfg.load(args.config) if args.config.exists() else None
    print(probe(config.clock_source if config else "auto").describe())
    print(f"decoders: {', '.join(decoders()) or 'none: apt-get install sox libsox-fmt-mp3'}")
    try:
        pcms = subprocess.run(["aplay", "-L"], capture_output=True, text=True, timeout=5, check=False).stdout
        names = [line for line in pcms.splitlines() if line and not line.startswith(" ")]
        print(f"ALSA devices: {', '.join(names) or 'none'}")
    except (OSError, subprocess.TimeoutExpired):
        print("ALSA devices: aplay missing: apt-get install alsa-utils")
    if config is not None:
        problem = Mixer(config.mixer_card, config.mixer_control).set(70)
        print(f"mixer: {problem or 'ok (set to 70 %)'}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="khu-speaker", description=__doc__)
    p.add_argument(
        "--config", type=Path, default=cfg.default_path(), help=f"default ${cfg.CONFIG_ENV} or %(default)s"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (
        ("enrol", f"announce through the area's enrolment window (password: ${ENROL_PASSWORD_ENV} or typed)"),
        (
            "account",
            f"use the account the app showed when the device was added (${ACCOUNT_PASSWORD_ENV} or typed)",
        ),
    ):
        s = sub.add_parser(name, help=helptext)
        s.add_argument(
            "broker",
            type=_broker,
            help="the hub's broker, HOST[:PORT] as the app shows it (port 18830 by default)",
        )
        s.add_argument("area", help="the area code, as the app shows it")
        s.add_argument("--device", default=_default_device(), help="this speaker's id (default %(default)s)")
        s.add_argument("--ca-file", default="", help="CA certificate of the broker's TLS listener")
        s.add_argument("--alsa-device", default="default", help="ALSA PCM to play on (aplay -L)")
        s.add_argument("--mixer-control", default="PCM", help="ALSA mixer control for the volume")
        s.add_argument("--cache-dir", default="/var/cache/khu-speaker")
        s.add_argument("--clock-source", default="auto", choices=("auto", "chrony", "timesyncd", "none"))
        s.add_argument("--wait-min", type=int, default=30, help="how long to wait for acceptance")
        if name == "enrol":
            s.add_argument("--enrol-user", default="", help="the window's account (default <area>._enrol)")
            s.add_argument("--no-wait", action="store_true", help="do not wait here; the service will")
    sub.add_parser("run", help="serve the hub (what the systemd unit runs)")
    sub.add_parser("check", help="show the clock, the decoders, the ALSA devices and the mixer")
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parser().parse_args(argv)
    commands = {"enrol": enrol, "account": account, "run": run, "check": check}
    try:
        sys.exit(commands[args.command](args))
    except cfg.ConfigError as exc:
        log.error("%s", exc)
        sys.exit(2)
