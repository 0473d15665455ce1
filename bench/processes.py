"""The processes a benchmark runs and measures: `khu serve` and the peers, with their CPU and memory."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.http import Client
from hub.broker.bootstrap import HUB_USERNAME
from hub.broker.process import free_port

ROOT = Path(__file__).resolve().parent.parent


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
            "mqtt_client_id": HUB_USERNAME,  # the account in account_file is bound to it
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
