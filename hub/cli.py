"""The ``khu`` command: run the hub, a simulated area, the broker, migrations, accounts."""

from __future__ import annotations

import argparse
import gc
import getpass
import logging
import secrets
import signal
import sys
import threading
from collections.abc import Callable

import uvicorn

from hub.accounts import AccountError, create_user
from hub.api.app import create_app
from hub.areas import AreaError, create_area
from hub.broker import Broker
from hub.db import make_engine, make_sessionmaker
from hub.demo import layout_from_args, provision_simulator, register_demo_area, start_fleet
from hub.launcher import run_everything
from hub.logs import setup_logging
from hub.migrate import upgrade
from hub.models import Role
from hub.settings import Settings, SettingsError, get_settings

log = logging.getLogger("khu")


def _setup_logging(settings: Settings) -> None:
    setup_logging(settings.log_level, settings.log_json)


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:

    upgrade(settings.db_url)
    print(f"database at {settings.db_url} is up to date")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:

    app = create_app(settings)
    # A full garbage collection walks every object the process holds: ~65 ms for the
    # ~200,000 the hub has once started (modules, classes, the ORM's mappings), now and
    # then in the middle of a timetable step. They live as long as the process, so they
    # are set aside; full collections only walk what came after. The youngest generation
    # is collected every 20,000 allocations instead of 700: a burst of reports allocates
    # millions, and the collections showed in the ingest writer's profile.
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000)
    # Open event streams must not hold a stop (Ctrl-C) for minutes.
    uvicorn.run(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        # Not logged at this level anyway, but uvicorn would still work out each line's fields.
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_broker(settings: Settings, args: argparse.Namespace) -> int:

    broker = Broker(
        settings.state_dir / "broker",
        settings.mqtt_port,
        binary=settings.mosquitto_bin,
        plugin=settings.mosquitto_dynsec_plugin,
    )
    broker.start()
    print(
        f"mosquitto listening on 127.0.0.1:{broker.port} (config {broker.config_path}); Ctrl-C stops it\n"
        f"the hub's broker account is in {broker.hub_secret_path}: "
        f"run the hub with KHU_MQTT_PASSWORD_FILE={broker.hub_secret_path}"
    )
    _wait_for_signal()
    broker.stop()
    return 0


def cmd_create_admin(settings: Settings, args: argparse.Namespace) -> int:

    password = args.password or (getpass.getpass("password: ") if sys.stdin.isatty() else "")
    generated = not password
    password = password or secrets.token_urlsafe(12)
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            create_user(session, args.username, password, Role.ADMIN, display_name=args.name)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"created admin {args.username!r}" + (f" with password {password}" if generated else ""))
    return 0


def cmd_create_area(settings: Settings, args: argparse.Namespace) -> int:

    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            create_area(
                session,
                args.code,
                args.name,
                args.lat,
                args.lon,
                args.tz or settings.default_timezone,
            )
    except AreaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(f"created area {args.code!r}")
    return 0


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> int:

    specs = layout_from_args(args)
    if args.register:
        register_demo_area(settings, args.area, specs, args.connections)
        provision_simulator(settings, args.area, specs, args.connections, args.dedicated)
    fleet = start_fleet(settings, args.area, specs, args.connections, args.dedicated)
    print(
        f"simulating {len(specs)} devices of area {args.area!r} on {settings.mqtt_host}:{settings.mqtt_port}"
    )
    _wait_for_signal()
    fleet.stop()
    return 0


def cmd_up(settings: Settings, args: argparse.Namespace) -> int:

    return run_everything(settings, args)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


def _add_layout_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--area", default="demo", help="area code (default: demo)")
    p.add_argument("--lights", type=int, default=40)
    p.add_argument("--streets", type=int, default=4)
    p.add_argument("--speakers", type=int, default=6)
    p.add_argument("--speaker-zones", type=int, default=2)
    p.add_argument("--cameras", type=int, default=12)
    p.add_argument(
        "--connections",
        type=int,
        default=1,
        help="MQTT connections (gateways) to spread devices over",
    )
    p.add_argument("--dedicated", action="store_true", help="one MQTT connection per device")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="khu", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(
        name: str, fn: Callable[[Settings, argparse.Namespace], int], help_: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(func=fn)
        return p

    up = add("up", cmd_up, "run everything: broker, migrations, hub and a simulated area")
    _add_layout_args(up)
    add("serve", cmd_serve, "run the hub (HTTP API and MQTT)")
    add("broker", cmd_broker, "run the project's Mosquitto from mosquitto.conf")
    add("migrate", cmd_migrate, "bring the database schema up to date")
    sim = add("simulate", cmd_simulate, "run a simulated area of devices")
    _add_layout_args(sim)
    sim.add_argument(
        "--register",
        action="store_true",
        help="also create the area, pre-register its devices and create their broker accounts",
    )
    admin = add("create-admin", cmd_create_admin, "create a commune admin account")
    admin.add_argument("--username", default="admin")
    admin.add_argument("--name", default="Quản trị xã")
    admin.add_argument("--password", help="default: asked, or generated and printed")
    area = add("create-area", cmd_create_area, "create an area")
    area.add_argument("code")
    area.add_argument("--name", required=True)
    area.add_argument("--lat", type=float, required=True)
    area.add_argument("--lon", type=float, required=True)
    area.add_argument("--tz", help="IANA time zone (default: KHU_DEFAULT_TIMEZONE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    _setup_logging(settings)
    try:
        result: int = args.func(settings, args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
