"""The broker's accounts on first start: Mosquitto's dynamic-security file and the hub's password."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from devices import topics
from devices.mqtt_client import Credentials

DYNSEC_FILE = "dynamic-security.json"
HUB_SECRET_FILE = "hub-credentials.json"
HUB_USERNAME = "khu-hub"
HUB_ROLE = "khu-hub"
ADMIN_ROLE = "admin"
CONTROL_ROOT = "$CONTROL/dynamic-security/#"

# Debian/Ubuntu put the plugin here; other systems set KHU_MOSQUITTO_DYNSEC_PLUGIN.
PLUGIN_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)

# Mosquitto's own parameters for the hashes in the dynamic-security file.
_ITERATIONS = 101
_SALT_BYTES = 12


class BrokerSecurityError(RuntimeError):
    pass


def find_plugin(configured: str | None = None) -> str:
    """The dynamic-security plugin's path; a clear error when Mosquitto was installed without it."""
    for candidate in (configured, *PLUGIN_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise BrokerSecurityError(
        "mosquitto_dynamic_security.so not found: install Debian's 'mosquitto' package (2.0 or later) "
        "or set KHU_MOSQUITTO_DYNSEC_PLUGIN to the plugin's path"
    )


def password_entry(password: str) -> dict[str, Any]:
    """PBKDF2-SHA512 fields as the plugin stores them (what ``mosquitto_ctrl`` writes)."""
    salt = secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": _ITERATIONS,
    }


def acl(acltype: str, topic: str, allow: bool = True) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "allow": allow}


def initial_config(hub_password: str) -> dict[str, Any]:
    """Nothing allowed by default; the hub administers accounts and may read everything."""
    admin_acls = [
        acl("publishClientSend", CONTROL_ROOT),
        acl("publishClientReceive", CONTROL_ROOT),
        acl("subscribePattern", CONTROL_ROOT),
        acl("publishClientReceive", "#"),
        acl("subscribePattern", "#"),
        acl("unsubscribePattern", "#"),
    ]
    hub_acls = [
        acl("publishClientSend", f"{topics.ROOT}/+/+/{topics.Channel.CMD.value}"),
        acl("publishClientSend", topics.HUB_STATUS_TOPIC),
    ]
    return {
        "clients": [
            {
                "username": HUB_USERNAME,
                "textName": "Khu hub: commands, ingest and device accounts",
                "roles": [{"rolename": ADMIN_ROLE}, {"rolename": HUB_ROLE}],
                **password_entry(hub_password),
            }
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls},
            {"rolename": HUB_ROLE, "acls": hub_acls},
        ],
        # A client may do only what a role of its own allows, receiving included.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def write_private(path: Path, text: str) -> None:
    """Write a secret readable by its owner only, replacing the file atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def credentials_doc(creds: Credentials) -> dict[str, str]:
    """How an account is kept in the project's 0600 JSON files."""
    return {"username": creds.username, "password": creds.password}


def credentials_from(doc: Any) -> Credentials:
    return Credentials(str(doc["username"]), str(doc["password"]))


def write_credentials(path: Path, creds: Credentials) -> Path:
    write_private(path, json.dumps(credentials_doc(creds)) + "\n")
    return path


def read_credentials(path: Path) -> Credentials:
    return credentials_from(json.loads(path.read_text()))


def ensure_accounts(data_dir: Path) -> Credentials:
    """Create the dynamic-security file and the hub's password on first start; return the hub's."""
    dynsec = data_dir / DYNSEC_FILE
    secret = data_dir / HUB_SECRET_FILE
    if dynsec.exists():
        if not secret.exists():
            raise BrokerSecurityError(
                f"{dynsec} exists but the hub's password ({secret}) is missing; restore it from a "
                f"backup, or delete {dynsec} to start over (every device then needs new credentials)"
            )
        return read_credentials(secret)
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = Credentials(HUB_USERNAME, secrets.token_urlsafe(24))
    write_credentials(secret, creds)
    write_private(dynsec, json.dumps(initial_config(creds.password), indent=1) + "\n")
    return creds
