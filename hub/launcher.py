"""``khu up``: the broker, the database, the hub and a simulated area, stopped together by Ctrl-C."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from hub.auth.accounts import create_user, has_admin
from hub.broker.process import Broker, BrokerError
from hub.broker.supervisor import BrokerSupervisor
from hub.db import make_engine, make_sessionmaker
from hub.models import Role
from hub.settings import Settings
from hub.simulated.demo import layout_from_args, provision_simulator, register_demo_area
from hub.storage.migrate import upgrade


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _ensure_admin(settings: Settings) -> tuple[str, Path]:
    """Create ``admin`` with a generated password on first start; it is kept in the state dir."""
    secret_file = settings.state_dir / "admin-password.txt"
    engine = make_engine(settings.db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            if not has_admin(session):
                password = secrets.token_urlsafe(12)
                create_user(session, "admin", password, Role.ADMIN, display_name="Quản trị xã")
                secret_file.write_text(password + "\n")
                secret_file.chmod(0o600)
    finally:
        engine.dispose()
    password = secret_file.read_text().strip() if secret_file.exists() else "(set when the admin was created)"
    return password, secret_file


def _wait_http(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def _online_count(base: str, area: str, password: str) -> int:
    """Devices of the area the hub sees online, asked the way any API client would."""
    form = urllib.parse.urlencode({"username": "admin", "password": password}).encode()
    try:
        with urllib.request.urlopen(f"{base}/api/v1/auth/token", data=form, timeout=2) as r:
            token = json.load(r)["access_token"]
        req = urllib.request.Request(
            f"{base}/api/v1/areas/{area}/devices?online=true&limit=1",
            headers={"Authorization": f"Bearer {token}"},
        )
        with urllib.request.urlopen(req, timeout=2) as r:
            return int(json.load(r)["total"])
    except OSError:
        return 0


def run_everything(settings: Settings, args: argparse.Namespace) -> int:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    for port, var in ((settings.mqtt_port, "KHU_MQTT_PORT"), (settings.http_port, "KHU_HTTP_PORT")):
        if _port_busy(port):
            print(
                f"error: port {port} is already in use on 127.0.0.1; stop what uses it or set {var}",
                file=sys.stderr,
            )
            return 2
    broker = Broker(
        settings.state_dir / "broker",
        settings.mqtt_port,
        binary=settings.mosquitto_bin,
        plugin=settings.mosquitto_dynsec_plugin,
    )
    try:
        broker.start()
    except BrokerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = settings.model_copy(update={"mqtt_password_file": broker.hub_secret_path.resolve()})
    children: dict[str, subprocess.Popen[bytes]] = {}
    try:
        upgrade(settings.db_url)
        password, secret_file = _ensure_admin(settings)
        specs = layout_from_args(args)
        register_demo_area(settings, args.area, specs, args.connections)
        provision_simulator(settings, args.area, specs, args.connections, args.dedicated)
        env = {
            **os.environ,
            "KHU_STATE_DIR": str(settings.state_dir.resolve()),
            "KHU_MQTT_PASSWORD_FILE": str(settings.mqtt_password_file),
        }
        cli = [sys.executable, "-m", "hub.cli"]
        children["hub"] = subprocess.Popen([*cli, "serve"], env=env)
        sim_args = ["simulate", "--area", args.area, "--connections", str(args.connections)]
        for flag in ("lights", "streets", "speakers", "speaker_zones", "cameras"):
            sim_args += [f"--{flag.replace('_', '-')}", str(getattr(args, flag))]
        if args.dedicated:
            sim_args.append("--dedicated")
        children["simulator"] = subprocess.Popen([*cli, *sim_args], env=env)
        base = f"http://{settings.http_host}:{settings.http_port}"
        if not _wait_http(f"{base}/readyz", 30):
            print(
                "error: the hub did not become ready within 30 s; see the log above",
                file=sys.stderr,
            )
            return 1
        expected = len(specs) + (0 if args.dedicated else args.connections)
        deadline = time.monotonic() + 15
        while _online_count(base, args.area, password) < expected and time.monotonic() < deadline:
            time.sleep(0.2)
        _banner(
            settings,
            base,
            args.area,
            password,
            secret_file,
            _online_count(base, args.area, password),
            expected,
        )
        return _supervise(children, BrokerSupervisor(broker))
    finally:
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        for child in children.values():
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        broker.stop()
        print("stopped broker, hub and simulated area")


def _banner(
    settings: Settings,
    base: str,
    area: str,
    password: str,
    secret_file: Path,
    online: int,
    total: int,
) -> None:
    print(
        f"""
  Khu hub is running: {online}/{total} simulated devices of area '{area}' online
  ---------------------------------------------------------------------------
  Phone app: {base}/    (log in below; Vietnamese first)
  API:      {base}/docs   (interactive; "Authorize" with the login below)
  Log in:   user admin, password {password}
            (kept in {secret_file})
  Ready:    {base}/readyz      Metrics: {base}/metrics
  Broker:   mqtt://127.0.0.1:{settings.mqtt_port}   data in {settings.state_dir}
            (no anonymous access; the hub's account is in {settings.mqtt_password_file})

  Try it from another terminal:
    TOKEN=$(curl -s -d username=admin -d password='{password}' {base}/api/v1/auth/token \\
            | python3 -c 'import sys, json; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/areas/{area}
    curl -s -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \\
         -d '{{"target": {{"zone_id": 1}}, "action": {{"type": "light.set", "level": 50}}}}' \\
         {base}/api/v1/areas/{area}/commands
    curl -s -H "Authorization: Bearer $TOKEN" {base}/api/v1/areas/{area}/audit

  Press Ctrl-C to stop everything.
""",
        flush=True,
    )


def _supervise(children: dict[str, subprocess.Popen[bytes]], broker: BrokerSupervisor) -> int:
    """Until Ctrl-C: a child that exits stops everything; a broker that dies is started again."""
    stop = {"now": False}

    def _handler(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    while not stop["now"]:
        for name, child in children.items():
            if child.poll() is not None:
                print(
                    f"error: the {name} exited with {child.returncode}; stopping everything",
                    file=sys.stderr,
                )
                return 1
        broker.check()
        time.sleep(0.3)
    return 0
