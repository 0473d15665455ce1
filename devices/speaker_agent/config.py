"""The agent's configuration file (TOML), holding its broker password: written 0600, atomically."""

from __future__ import annotations

import json
import os
import tempfile
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from devices.topics import is_ident

DEFAULT_PATH = Path("/etc/khu-speaker/speaker.toml")
CONFIG_ENV = "KHU_SPEAKER_CONFIG"
# Which table of the file each setting lives in (the file is written in this order).
SECTIONS: dict[str, tuple[str, ...]] = {
    "broker": ("host", "port", "ca_file"),
    "device": ("area", "device", "password", "accepted", "model", "enrol_wait_s"),
    "audio": (
        "alsa_device",
        "mixer_card",
        "mixer_control",
        "cache_dir",
        "cache_max_mb",
        "max_audio_bytes",
        "fetch_timeout_s",
        "https_ca_file",
    ),
    "clock": ("clock_source",),
}


_CHECKS: dict[str, Callable[[object], bool]] = {
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    # bool is an int in Python; an int is fine where a float is wanted.
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or wrong; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class AgentConfig:
    host: str
    area: str
    device: str
    password: str
    port: int = 18830  # the hub's default KHU_MQTT_PORT
    ca_file: str = ""  # set: TLS to the broker, its certificate checked against this CA
    # False while enrolling: refusals are expected until the area head accepts the speaker.
    accepted: bool = True
    model: str = "khu-speaker"
    enrol_wait_s: int = 1800
    alsa_device: str = "default"
    mixer_card: str = "0"
    mixer_control: str = "PCM"
    cache_dir: str = "/var/cache/khu-speaker"
    cache_max_mb: int = 200
    max_audio_bytes: int = 50_000_000
    fetch_timeout_s: float = 30.0
    https_ca_file: str = ""  # a private CA for the hub's HTTPS address, if it has one
    clock_source: str = "auto"  # auto | chrony | timesyncd | none

    @property
    def username(self) -> str:
        """The broker account and client id, bound together by the broker."""
        return f"{self.area}.{self.device}"

    def check(self) -> AgentConfig:
        if not is_ident(self.area) or not is_ident(self.device):
            raise ConfigError(
                f"area {self.area!r} and device {self.device!r} must match ^[a-z0-9][a-z0-9_-]{{0,47}}$"
            )
        if not self.host:
            raise ConfigError("broker.host is empty: the hub's broker address")
        if not 0 < self.port < 65536:
            raise ConfigError(f"broker.port {self.port} is not a port")
        if self.clock_source not in ("auto", "chrony", "timesyncd", "none"):
            raise ConfigError(
                f"clock.clock_source {self.clock_source!r}: use auto, chrony, timesyncd or none"
            )
        return self

    def with_changes(self, **changes: Any) -> AgentConfig:
        return replace(self, **changes).check()


def load(path: Path) -> AgentConfig:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: run 'khu-speaker enrol' or 'khu-speaker account' first"
        ) from None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    known = {f.name: f for f in fields(AgentConfig)}
    values: dict[str, Any] = {}
    for section, names in SECTIONS.items():
        table = raw.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in table.items():
            if key not in names:
                raise ConfigError(f"{path}: unknown setting {section}.{key}")
            values[key] = value
    for name in ("host", "area", "device", "password"):
        if name not in values:
            raise ConfigError(f"{path}: missing setting {name}")
    for key, value in values.items():
        want = str(known[key].type)
        if not _CHECKS[want](value):
            raise ConfigError(f"{path}: {key} = {value!r} should be of type {want}")
        if want == "float":
            values[key] = float(value)
    return AgentConfig(**values).check()


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    # A JSON string is a valid TOML basic string (the same escapes, \uXXXX included).
    return json.dumps(str(value), ensure_ascii=False)


def save(config: AgentConfig, path: Path) -> None:
    """Write the file 0600 (it holds the broker password), replacing the old one at once."""
    lines = ["# khu-speaker configuration: docs/speaker-agent.md. Holds the broker password: keep 0600."]
    for section, names in SECTIONS.items():
        lines += ["", f"[{section}]"]
        lines += [f"{name} = {_toml_value(getattr(config, name))}" for name in names]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".speaker-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def default_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_PATH)
