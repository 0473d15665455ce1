"""What every benchmark needs: a broker, a prepared database, a ``khu serve`` process, peers, results."""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.accounts import GATEWAY_MAX_DEVICES, multiplexer_accounts, provision, write_accounts
from bench.processes import Hub, Peer
from devices.payloads import Kind
from devices.sim import DeviceSpec, demo_layout
from devices.sim.fleet import gateway_shares
from hub.auth.accounts import create_user
from hub.broker.process import Broker
from hub.db import make_engine, make_sessionmaker
from hub.models import Area, Device, DeviceStatus, Role
from hub.registry.areas import create_area, ensure_zone
from hub.simulated.demo import simulator_accounts, write_simulator_accounts
from hub.storage.migrate import upgrade

ADMIN = "bench-admin"


# --- results ---------------------------------------------------------------------------


@dataclass
class Result:
    """One figure; ``met`` is None where the issue sets no target (shown for context)."""

    name: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("value", "baseline", "ratio"):
            if isinstance(out[key], float):
                out[key] = round(out[key], 3)
        return out


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) by linear interpolation between closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.02) -> float:
    """Poll until true; returns the seconds it took, raises TimeoutError with ``what``."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)
    return time.monotonic() - start


# --- the whole set-up ----------------------------------------------------------------------


class Stack:
    """Broker, database, hub and peers of one benchmark, torn down in reverse order."""

    def __init__(
        self, name: str, keep: bool = bool(os.environ.get("BENCH_KEEP")), db_url: str | None = None
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"khu-bench-{name}-"))
        self.keep = keep
        self.broker = Broker(self.dir / "broker")
        self.db_url = db_url or f"sqlite:///{self.dir / 'khu.db'}"
        self.admin_password = secrets.token_urlsafe(12)
        self._hubs: list[Hub] = []
        self._peers: list[Peer] = []

    def __enter__(self) -> Stack:
        self.broker.start()
        with self.broker.admin() as accounts:
            self.account = provision(accounts)
        self.account_file = write_accounts(self.dir / "bench-accounts.json", self.account)
        upgrade(self.db_url)
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                create_user(session, ADMIN, self.admin_password, Role.ADMIN)
        finally:
            engine.dispose()
        return self

    def __exit__(self, *exc: object) -> None:
        for peer in reversed(self._peers):
            with contextlib.suppress(Exception):
                peer.resume()
            peer.stop()
        for hub in reversed(self._hubs):
            with contextlib.suppress(Exception):
                hub.resume()
            hub.stop()
        self.broker.stop()
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def port(self) -> int:
        return self.broker.port

    def register(self, code: str, specs: Sequence[DeviceSpec], gateways: int = 0) -> dict[str, int]:
        """Create an area with its devices already accepted; returns zone ids by name."""
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine).begin() as session:
                area = create_area(session, code, f"Khu {code}", 21.0285, 105.8542, "Asia/Ho_Chi_Minh")
                zones = {
                    name: ensure_zone(session, area, name).id
                    for name in dict.fromkeys(s.zone for s in specs if s.zone)
                }
                # Accepted behind the gateway the fleet puts them on, as an installer would.
                shares = gateway_shares([s.device_id for s in specs], gateways) if gateways else {}
                via = {d: g for g, share in shares.items() for d in share}
                rows: list[dict[str, Any]] = [
                    {
                        "area_id": area.id,
                        "device_id": s.device_id,
                        "kind": s.kind.value,
                        "name": s.name,
                        "zone_id": zones.get(s.zone) if s.zone else None,
                        "status": DeviceStatus.ACTIVE.value,
                        "capabilities": [],
                        "codec": "native",
                        "online": False,
                        "via": via.get(s.device_id),
                    }
                    for s in specs
                ]
                rows += [
                    {
                        "area_id": area.id,
                        "device_id": f"gw-{i + 1}",
                        "kind": Kind.GATEWAY.value,
                        "name": f"gw {i + 1}",
                        "zone_id": None,
                        "status": DeviceStatus.ACTIVE.value,
                        "capabilities": [],
                        "codec": "native",
                        "online": False,
                    }
                    for i in range(gateways)
                ]
                for chunk in range(0, len(rows), 20_000):
                    session.execute(insert(Device), rows[chunk : chunk + 20_000])
            return zones
        finally:
            engine.dispose()

    def area_id(self, code: str) -> int:
        engine = make_engine(self.db_url)
        try:
            with make_sessionmaker(engine)() as session:
                found = session.scalar(select(Area.id).where(Area.code == code))
                assert found is not None
                return found
        finally:
            engine.dispose()

    def hub(self, **settings: Any) -> Hub:
        hub = Hub(self.dir, self.port, self.broker.hub_secret_path, **settings)
        self._hubs.append(hub)
        return hub

    def start_hub(self, timeout: float = 60, **settings: Any) -> Hub:
        hub = self.hub(**settings)
        hub.start()
        hub.wait_ready(timeout)
        hub.login(ADMIN, self.admin_password)
        return hub

    def peer(self, *args: str) -> Peer:
        account = ["--account", str(self.account_file)] if args[0] != "fleet" else []
        peer = Peer(
            [args[0], "--port", str(self.port), *account, *args[1:]], self.dir / f"peer-{args[0]}.log"
        )
        self._peers.append(peer)
        return peer

    def fleet(self, area: str, timeout: float = 120, **layout: int | float) -> Peer:
        args = ["fleet", "--area", area, "--accounts", str(self.fleet_accounts(area, **layout))]
        for key, value in layout.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        peer = self.peer(*args, "--timeout", str(timeout))
        peer.expect_ready(timeout + 30)
        return peer

    def fleet_accounts(self, area: str, **layout: int | float) -> Path:
        """Each gateway of ``bench.peer fleet`` gets its own account, as deployed."""
        connections = int(layout.get("connections", 1))
        # The layout bench.peer fleet builds from the same arguments (and its defaults).
        counts = {"lights": 0, "streets": 1, "speakers": 0, "speaker_zones": 1, "cameras": 0}
        counts |= {k: int(layout[k]) for k in counts if k in layout}
        specs = demo_layout(area, **counts)
        with self.broker.admin() as accounts:
            if len(specs) / connections <= GATEWAY_MAX_DEVICES:
                # Each gateway's account carries the devices the fleet puts behind it.
                made, control = simulator_accounts(accounts, area, specs, connections, dedicated=False)
            else:
                made, control = multiplexer_accounts(accounts, area, specs, connections)
        return write_simulator_accounts(self.dir / f"sim-accounts-{area}.json", made, control)

    def online_count(self, hub: Hub, code: str, kind: str | None = None) -> int:
        c = hub.client()
        try:
            params: dict[str, Any] = {"online": "true", "limit": 1}
            if kind:
                params["kind"] = kind
            return int(c.get(f"/api/v1/areas/{code}/devices", **params).json()["total"])
        finally:
            c.close()

    def wait_online(self, hub: Hub, code: str, count: int, timeout: float = 120) -> float:
        return wait_until(
            lambda: self.online_count(hub, code) >= count, timeout, f"{count} devices of {code} online", 0.2
        )


def ensure_mosquitto_on_path() -> None:
    """Debian installs mosquitto in /usr/sbin, which is not on every PATH."""
    if shutil.which("mosquitto") is None and Path("/usr/sbin/mosquitto").exists():
        os.environ["PATH"] = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin"


@contextlib.contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    yield box
    box.append(time.perf_counter() - start)


def free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
