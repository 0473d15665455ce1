"""What every benchmark needs: a broker, a prepared database, a ``khu serve`` process, peers, results."""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from bench.http import Client
from devices.payloads import Kind
from devices.sim import DeviceSpec
from hub.accounts import create_user
from hub.areas import create_area, ensure_zone
from hub.broker import Broker, free_port
from hub.broker_accounts import tool_acls
from hub.broker_security import write_credentials
from hub.db import make_engine, make_sessionmaker
from hub.demo import simulator_accounts, write_simulator_accounts
from hub.migrate import upgrade
from hub.models import Area, Device, DeviceStatus, Role

ROOT = Path(__file__).resolve().parent.parent
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


# --- processes ---------------------------------------------------------------------------


def traced_pid(proc: subprocess.Popen[Any], profiled: bool) -> int:
    """The process started, or under py-spy its child: what pausing and CPU figures are about.

    Pausing py-spy instead of the program let the program drain a backlog while "frozen".
    """
    if profiled:
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
        if children:
            return int(children[0])
    return proc.pid


class Peer:
    """A ``python -m bench.peer`` process; reads its JSON lines on a thread."""

    def __init__(self, args: Sequence[str], log: Path) -> None:
        self._log = log.open("ab")
        command = [sys.executable, "-m", "bench.peer", *args]
        profile = os.environ.get("BENCH_PYSPY_PEER")  # a file prefix: record peers with py-spy
        if profile:
            spy = str(Path(sys.executable).with_name("py-spy"))
            out = f"{profile}-{args[0]}.raw"
            command = [spy, "record", "-r", "200", "--idle", "-t", "-f", "raw", "-o", out, "--", *command]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            start_new_session=True,  # its own process group: nothing it starts outlives it
        )
        self.name = " ".join(args[:1])
        self._lines: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def pid(self) -> int:
        return traced_pid(self.proc, bool(os.environ.get("BENCH_PYSPY_PEER")))

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with contextlib.suppress(ValueError):
                self._lines.put(json.loads(line))

    def line(self, timeout: float) -> dict[str, Any]:
        try:
            return self._lines.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(f"peer {self.name} said nothing within {timeout}s") from None

    def expect_ready(self, timeout: float) -> dict[str, Any]:
        msg = self.line(timeout)
        if not msg.get("ready"):
            raise RuntimeError(f"peer {self.name} not ready: {msg}")
        return msg

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT if os.environ.get("BENCH_PYSPY_PEER") else signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)  # py-spy's child, if it was profiling
        self._log.close()


def memory_of(pid: int) -> dict[str, int]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), in bytes, from /proc."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) * 1024
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (a load-independent cost figure)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Hub:
    """A ``khu serve`` process (the hub as deployed: HTTP API, MQTT link, scheduler) on loopback."""

    def __init__(self, state_dir: Path, broker_port: int, account_file: Path, **settings: Any) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("KHU_")}
        values: dict[str, Any] = {
            "state_dir": state_dir,
            "mqtt_port": broker_port,
            "http_port": self.port,
            "mqtt_client_id": "khu-hub-bench",
            "mqtt_password_file": account_file,
            "log_level": "WARNING",
            "access_token_minutes": 600,
            "secret_key": "bench-" + secrets.token_hex(16),
        } | settings
        env.update({f"KHU_{k.upper()}": str(v) for k, v in values.items()})
        self.env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.token = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return traced_pid(self.proc, bool(os.environ.get("BENCH_PYSPY")))

    def start(self) -> None:
        log = (self.state_dir / "hub.log").open("ab")
        self.started = time.monotonic()
        command = [sys.executable, "-m", "hub.cli", "serve"]
        profile = os.environ.get("BENCH_PYSPY")  # a file: record the hub with py-spy (profiling only)
        if profile:
            spy = Path(sys.executable).with_name("py-spy")
            command = [
                str(spy),
                "record",
                "-r",
                os.environ.get("BENCH_PYSPY_RATE", "100"),
                *(["--idle"] if os.environ.get("BENCH_PYSPY_IDLE") else []),
                *(["--gil"] if os.environ.get("BENCH_PYSPY_GIL") else []),
                "-t",
                "-f",
                "raw",
                "-o",
                profile,
                "--",
                *command,
            ]
        self.proc = subprocess.Popen(
            command,
            cwd=self.state_dir,
            env=self.env,
            stdout=log,
            stderr=log,
            start_new_session=True,  # its own process group: nothing it starts outlives it
        )
        log.close()

    def ready(self) -> bool:
        try:
            c = Client("127.0.0.1", self.port, timeout=2)
        except OSError:
            return False
        try:
            return c.get("/readyz").status == 200
        except OSError:
            return False
        finally:
            c.close()

    def wait_ready(self, timeout: float = 60, poll: float = 0.01) -> float:
        """Seconds from ``start`` until ``/readyz`` answered 200."""
        assert self.proc is not None
        deadline = self.started + timeout
        while not self.ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited with {self.proc.returncode}; see {self.state_dir}/hub.log")
            if time.monotonic() > deadline:
                raise TimeoutError(f"hub not ready within {timeout}s; see {self.state_dir}/hub.log")
            time.sleep(poll)
        return time.monotonic() - self.started

    def login(self, username: str, password: str) -> str:
        c = Client("127.0.0.1", self.port)
        try:
            r = c.post_form("/api/v1/auth/token", {"username": username, "password": password})
        finally:
            c.close()
        if r.status != 200:
            raise RuntimeError(f"login failed: {r.status} {r.body[:200]!r}")
        self.token = str(r.json()["access_token"])
        return self.token

    def client(self) -> Client:
        return Client("127.0.0.1", self.port, self.token)

    def metrics(self) -> dict[str, float]:
        """The hub's Prometheus samples, by name with labels, e.g. ``khu_ingest_committed_total``."""
        c = Client("127.0.0.1", self.port)
        try:
            text = c.get("/metrics").body.decode()
        finally:
            c.close()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    out[name] = float(value)
        return out

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def rejected(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("khu_mqtt_rejected_total"))

    def pause(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        # py-spy (BENCH_PYSPY) writes its profile on SIGINT; the hub stops the same way on either.
        self.proc.send_signal(signal.SIGINT if os.environ.get("BENCH_PYSPY") else signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # py-spy's child, if it was profiling


# --- the whole set-up ----------------------------------------------------------------------


class Stack:
    """Broker, database, hub and peers of one benchmark, torn down in reverse order."""

    def __init__(self, name: str, keep: bool = bool(os.environ.get("BENCH_KEEP"))) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"khu-bench-{name}-"))
        self.keep = keep
        self.broker = Broker(self.dir / "broker")
        self.db_url = f"sqlite:///{self.dir / 'khu.db'}"
        self.admin_password = secrets.token_urlsafe(12)
        self._hubs: list[Hub] = []
        self._peers: list[Peer] = []

    def __enter__(self) -> Stack:
        self.broker.start()
        with self.broker.admin("bench-setup") as accounts:
            self.account = accounts.provision_tool("bench", tool_acls(("#",)))
        self.account_file = write_credentials(self.dir / "bench-account.json", self.account)
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
        with self.broker.admin("bench-setup") as accounts:
            # Gateway mode: the accounts are the gateways', whatever devices they carry.
            made, control = simulator_accounts(accounts, area, [], connections, dedicated=False)
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
