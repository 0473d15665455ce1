"""The ``khu`` command: run the hub, a simulated area, the broker, migrations, accounts."""

from __future__ import annotations

import argparse
import faulthandler
import gc
import getpass
import logging
import os
import secrets
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import uvicorn

from hub.api.app import UVICORN_OPTIONS, create_app
from hub.auth.accounts import AccountError, create_user
from hub.broker.accounts import BrokerAccountError, BrokerAccounts
from hub.broker.bootstrap import BrokerSecurityError, write_credentials
from hub.broker.process import Broker
from hub.cli_users import add_commands as add_user_commands
from hub.db import make_engine, make_sessionmaker
from hub.launcher import run_everything
from hub.logs import setup_logging
from hub.models import Role
from hub.registry.areas import AreaError, create_area
from hub.settings import Settings, SettingsError, get_settings
from hub.simulated import protocol_fleet
from hub.simulated.demo import layout_from_args, provision_simulator, register_demo_area, start_fleet
from hub.storage.backup import create_backup
from hub.storage.backup_db import BackupError
from hub.storage.migrate import upgrade
from hub.storage.restore import restore_backup

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
        **UVICORN_OPTIONS,
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
    if args.protocol != "native":
        return _simulate_protocol(settings, args)
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


def _simulate_protocol(settings: Settings, args: argparse.Namespace) -> int:
    """Emulated off-the-shelf devices (Tasmota, Zigbee2MQTT, ESPHome, Frigate)."""
    try:
        if args.register:
            path = protocol_fleet.register(settings, args.area, args.protocol, args.count)
            print(f"{args.count} {args.protocol} device(s) registered in {args.area!r}; accounts in {path}")
        emulators = protocol_fleet.start(settings, args.area, args.protocol, args.count)
    except (RuntimeError, BrokerAccountError, BrokerSecurityError, AreaError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"emulating {len(emulators)} {args.protocol} device(s) of area {args.area!r}")
    _wait_for_signal()
    for emulator in emulators:
        emulator.stop()
    return 0


def cmd_hub_account(settings: Settings, args: argparse.Namespace) -> int:
    """Another hub process on the same broker gets an account of its own, bound to its client id."""
    path = settings.state_dir / "broker" / f"hub-credentials-{args.client_id}.json"
    try:
        with BrokerAccounts.for_tools(settings) as accounts:
            creds = accounts.provision_hub(args.client_id)
    except (BrokerAccountError, BrokerSecurityError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    write_credentials(path, creds)
    print(
        f"hub account {creds.username!r} written to {path}; run that hub with\n"
        f"  KHU_MQTT_PASSWORD_FILE={path} KHU_MQTT_CLIENT_ID={args.client_id}"
    )
    return 0


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        manifest = create_backup(settings, args.path)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"backup of {manifest['database']} (schema {manifest['schema_revision']}) written to {args.path}")
    for note in manifest["not_included"]:
        print(f"not in the backup, keep it yourself: {note}")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        manifest = restore_backup(settings, args.path, force=args.force)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        f"restored the backup of {manifest['created']} into {settings.state_dir}; "
        "start the broker and the hub (khu up, or khu broker and khu serve)"
    )
    for note in manifest["not_included"]:
        print(f"not in the backup, set it again: {note}")
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
    sim.add_argument(
        "--protocol",
        type=lambda name: "zigbee2mqtt" if name == "z2m" else name,
        choices=[*sorted(protocol_fleet.SHAPES), "native"],
        default="native",
        help="emulate off-the-shelf devices of this protocol (z2m: zigbee2mqtt), not native ones",
    )
    sim.add_argument(
        "--count", type=int, default=10, help="with --protocol: how many devices (or bridges' devices)"
    )
    hub_account = add("hub-account", cmd_hub_account, "create a broker account for another hub process")
    hub_account.add_argument("client_id", help="the client id that hub connects with (also its username)")
    backup = add("backup", cmd_backup, "write the database, broker accounts and keys to one archive")
    backup.add_argument("path", type=Path, help="the archive to create (.tar.gz; refused if it exists)")
    restore = add("restore", cmd_restore, "bring a 'khu backup' archive back (hub and broker stopped)")
    restore.add_argument("path", type=Path, help="the archive 'khu backup' wrote")
    restore.add_argument("--force", action="store_true", help="replace a non-empty state dir or database")
    admin = add("create-admin", cmd_create_admin, "create a commune admin account")
    admin.add_argument("--username", default="admin")
    admin.add_argument("--name", default="Quản trị xã")
    admin.add_argument("--password", help="default: asked, or generated and printed")
    add_user_commands(sub)
    area = add("create-area", cmd_create_area, "create an area")
    area.add_argument("code")
    area.add_argument("--name", required=True)
    area.add_argument("--lat", type=float, required=True)
    area.add_argument("--lon", type=float, required=True)
    area.add_argument("--tz", help="IANA time zone (default: KHU_DEFAULT_TIMEZONE)")
    return parser


def main(argv: list[str] | None = None) -> int:
    # A fatal signal (SIGBUS from a database file's mapping, SIGSEGV in a C extension) would
    # end the process without a word; this prints each thread's stack to stderr, the log.
    faulthandler.enable()
    # Whatever khu and its children (Mosquitto) create is its user's alone: the state dir
    # holds password hashes, keys and residents' push subscriptions.
    os.umask(0o077)
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
