"""Starts the project's own Mosquitto from the repo's ``mosquitto.conf`` on a chosen port."""

from __future__ import annotations

import getpass
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from devices.mqtt_client import Credentials
from hub.broker.accounts import BrokerAccounts
from hub.broker.bootstrap import (
    DYNSEC_FILE,
    HUB_SECRET_FILE,
    HUB_USERNAME,
    BrokerSecurityError,
    ensure_accounts,
    find_plugin,
    tools_credentials,
)

REPO_CONF = Path(__file__).resolve().parents[2] / "mosquitto.conf"


class BrokerError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def render_config(template: str, port: int, data_dir: Path, plugin: str) -> str:
    """The repo's config with this instance's port, data folder, plugin path and user filled in."""
    # Only the first listener is ours to move; others (TLS, see docs/security.md) stay as written.
    text = re.sub(r"(?m)^listener\s+\d+", f"listener {port}", template, count=1)
    text = re.sub(r"(?m)^(persistence_location|log_dest|user|plugin|plugin_opt_config_file)\b.*$", "", text)
    extra = [
        f"plugin {plugin}",
        f"plugin_opt_config_file {(data_dir / DYNSEC_FILE).resolve()}",
        f"persistence_location {data_dir.resolve()}/",
        f"log_dest file {(data_dir / 'mosquitto.log').resolve()}",
        # Mosquitto started as root drops to the 'mosquitto' user, which cannot write here.
        f"user {getpass.getuser()}",
    ]
    return text.rstrip() + "\n\n# added by hub.broker.process\n" + "\n".join(extra) + "\n"


class Broker:
    """One Mosquitto process; ``kill`` and ``start`` again to simulate a crash."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        binary: str = "mosquitto",
        conf: Path = REPO_CONF,
        plugin: str | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.binary = binary
        self.conf = conf
        self.plugin = plugin
        self.hub_credentials: Credentials | None = None
        self._hub_accounts: dict[str, Credentials] = {}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def config_path(self) -> Path:
        return self.data_dir / "mosquitto.conf"

    @property
    def hub_secret_path(self) -> Path:
        """JSON with the hub's username and password, readable by its owner only."""
        return self.data_dir / HUB_SECRET_FILE

    @property
    def hub(self) -> Credentials:
        """The hub's account, created with the broker's account file on first use."""
        if self.hub_credentials is None:
            try:
                self.hub_credentials = ensure_accounts(self.data_dir)
            except BrokerSecurityError as exc:
                raise BrokerError(str(exc)) from None
        return self.hub_credentials

    @property
    def tools(self) -> Credentials:
        """The set-up tools' account (account management only, client id ``khu-tools``)."""
        _ = self.hub  # creates the account files on first use
        try:
            return tools_credentials(self.data_dir)
        except BrokerSecurityError as exc:
            raise BrokerError(str(exc)) from None

    def admin(self) -> BrokerAccounts:
        """Account management on this broker with the tools' account (``with broker.admin() as a``).

        One at a time: the account is bound to one client id.
        """
        return BrokerAccounts.connect("127.0.0.1", self.port, self.tools)

    def hub_account(self, client_id: str) -> Credentials:
        """The account of a hub that connects as ``client_id``, created on first use (broker running)."""
        if client_id == HUB_USERNAME:
            return self.hub
        if client_id not in self._hub_accounts:
            with self.admin() as accounts:
                self._hub_accounts[client_id] = accounts.provision_hub(client_id)
        return self._hub_accounts[client_id]

    def start(self, timeout: float = 10) -> None:
        exe = shutil.which(self.binary)
        if exe is None:
            raise BrokerError(
                f"{self.binary!r} not found: install it with 'apt-get install mosquitto' "
                "or set KHU_MOSQUITTO_BIN"
            )
        try:
            plugin = find_plugin(self.plugin)
        except BrokerSecurityError as exc:
            raise BrokerError(str(exc)) from None
        _ = self.hub  # creates the account file before Mosquitto reads it
        self.config_path.write_text(render_config(self.conf.read_text(), self.port, self.data_dir, plugin))
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.config_path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise BrokerError(f"mosquitto exited with {self.proc.returncode}: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise BrokerError(f"mosquitto did not listen on port {self.port} within {timeout}s")

    def stop(self) -> None:
        """Graceful stop: Mosquitto saves its persistence file."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL, as a crash or power cut would."""
        self._end(signal.SIGKILL)

    def _end(self, sig: signal.Signals) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
