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
from devices.protocols import all_codecs

DYNSEC_FILE = "dynamic-security.json"
HUB_SECRET_FILE = "hub-credentials.json"
TOOLS_SECRET_FILE = "tools-credentials.json"
# Every account is bound to one client id, its username: a second connection with that id
# (which would throw the first off the broker) needs the same password.
HUB_USERNAME = "khu-hub"
TOOLS_USERNAME = "khu-tools"
HUB_ROLE = "khu-hub"
ADMIN_ROLE = "admin"
ACCOUNTS_ROLE = "khu-accounts"
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


def _control_acls() -> list[dict[str, Any]]:
    return [
        acl("publishClientSend", CONTROL_ROOT),
        acl("publishClientReceive", CONTROL_ROOT),
        acl("subscribePattern", CONTROL_ROOT),
    ]


def hub_acls() -> list[dict[str, Any]]:
    """Commands, its own status, the retained ``offline`` of a device whose account it revoked,
    in every protocol it speaks, and what it ingested for the other replicas of its group."""
    filters = dict.fromkeys(f for codec in all_codecs() for f in codec.hub_publishes())
    return [
        *(acl("publishClientSend", f) for f in filters),
        acl("publishClientSend", topics.HUB_STATUS_TOPIC),
        acl("publishClientSend", f"{topics.HUB_PEERS_ROOT}/#"),
    ]


def hub_client(username: str, password_fields: dict[str, Any], text_name: str) -> dict[str, Any]:
    return {
        "username": username,
        "clientid": username,
        "textName": text_name,
        "roles": [{"rolename": ADMIN_ROLE}, {"rolename": HUB_ROLE}],
        **password_fields,
    }


def tools_client(password_fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "username": TOOLS_USERNAME,
        "clientid": TOOLS_USERNAME,
        "textName": "Set-up tools (khu simulate --register, khu up, khu hub-account): accounts only",
        "roles": [{"rolename": ACCOUNTS_ROLE}],
        **password_fields,
    }


def initial_config(hub_password: str, tools_password: str) -> dict[str, Any]:
    """Nothing allowed by default; the hub administers accounts and may read everything."""
    admin_acls = [
        *_control_acls(),
        acl("publishClientReceive", "#"),
        acl("subscribePattern", "#"),
        acl("unsubscribePattern", "#"),
    ]
    return {
        "clients": [
            hub_client(
                HUB_USERNAME, password_entry(hub_password), "Khu hub: commands, ingest and device accounts"
            ),
            tools_client(password_entry(tools_password)),
        ],
        "groups": [],
        "roles": [
            {"rolename": ADMIN_ROLE, "acls": admin_acls},
            {"rolename": HUB_ROLE, "acls": hub_acls()},
            {"rolename": ACCOUNTS_ROLE, "acls": _control_acls()},
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
    """Create the dynamic-security file and the hub's and tools' passwords on first start.

    A file written before accounts were bound to client ids is brought up to date; Mosquitto
    must not be running (the plugin rewrites the file on every change). Returns the hub's account.
    """
    dynsec = data_dir / DYNSEC_FILE
    secret = data_dir / HUB_SECRET_FILE
    if dynsec.exists():
        if not secret.exists():
            raise BrokerSecurityError(
                f"{dynsec} exists but the hub's password ({secret}) is missing; restore it from a "
                f"backup, or delete {dynsec} to start over (every device then needs new credentials)"
            )
        _upgrade(dynsec, data_dir / TOOLS_SECRET_FILE)
        return read_credentials(secret)
    data_dir.mkdir(parents=True, exist_ok=True)
    creds = Credentials(HUB_USERNAME, secrets.token_urlsafe(24))
    tools = Credentials(TOOLS_USERNAME, secrets.token_urlsafe(24))
    write_credentials(secret, creds)
    write_credentials(data_dir / TOOLS_SECRET_FILE, tools)
    write_private(dynsec, json.dumps(initial_config(creds.password, tools.password), indent=1) + "\n")
    return creds


def tools_credentials(data_dir: Path) -> Credentials:
    """The set-up tools' account (created with the broker's account file)."""
    path = data_dir / TOOLS_SECRET_FILE
    try:
        return read_credentials(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BrokerSecurityError(
            f"cannot read the set-up tools' broker account from {path} ({exc!r}); it is written when "
            "the broker first starts ('khu up' or 'khu broker' with the same KHU_STATE_DIR)"
        ) from None


def _upgrade(dynsec: Path, tools_secret: Path) -> None:
    """Bind the hub's account to its client id, widen its role, and add the tools' account."""
    config = json.loads(dynsec.read_text())
    changed = False
    clients: list[dict[str, Any]] = config.setdefault("clients", [])
    roles: list[dict[str, Any]] = config.setdefault("roles", [])
    for client in clients:
        if client.get("username") == HUB_USERNAME and client.get("clientid") != HUB_USERNAME:
            client["clientid"] = HUB_USERNAME
            changed = True
    for role in roles:
        if role.get("rolename") == HUB_ROLE:
            have = {(a.get("acltype"), a.get("topic")) for a in role.setdefault("acls", [])}
            missing = [a for a in hub_acls() if (a["acltype"], a["topic"]) not in have]
            role["acls"] += missing
            changed = changed or bool(missing)
    if not any(r.get("rolename") == ACCOUNTS_ROLE for r in roles):
        roles.append({"rolename": ACCOUNTS_ROLE, "acls": _control_acls()})
        changed = True
    if not any(c.get("username") == TOOLS_USERNAME for c in clients) or not tools_secret.exists():
        tools = Credentials(TOOLS_USERNAME, secrets.token_urlsafe(24))
        clients[:] = [c for c in clients if c.get("username") != TOOLS_USERNAME]
        clients.append(tools_client(password_entry(tools.password)))
        write_credentials(tools_secret, tools)
        changed = True
    if changed:
        write_private(dynsec, json.dumps(config, indent=1) + "\n")
