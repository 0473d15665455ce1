"""What each broker account may do, as dynamic-security commands: usernames, roles and ACLs."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from devices import topics
from devices.codec import DeviceTopics, NativeCodec
from devices.payloads import Kind
from devices.protocols.enrolment import ROOT as ENROL_ROOT
from devices.protocols.tasmota import DISCOVERY as TASMOTA_DISCOVERY
from hub.broker.bootstrap import ADMIN_ROLE, HUB_ROLE, acl

_NATIVE = NativeCodec()
# Requests stay under 64 KiB: mosquitto.conf's max_packet_size (1 MiB) is the hard limit, and
# the plugin answers a big request slowly.
REQUEST_MAX_BYTES = 48_000
_CARRIED_CHANNELS = (topics.Channel.STATE, topics.Channel.STATUS, topics.Channel.EVENT)


def device_username(area: str, device: str) -> str:
    """A device's broker username; ``.`` never occurs in an area code or device id."""
    return f"{area}.{device}"


def enrolment_username(area: str) -> str:
    """``_`` never starts a device id, so this name is nobody's device."""
    return f"{area}._enrol"


def enrolment_acls(area: str) -> list[dict[str, Any]]:
    """Write-only: a native announcement in the area, or a Tasmota's own discovery message."""
    return [
        acl("publishClientSend", f"{ENROL_ROOT}/{area}/+"),
        acl("publishClientSend", f"{TASMOTA_DISCOVERY}/+/config"),
    ]


def device_acls(area: str, device: str, kind: Kind) -> list[dict[str, Any]]:
    """A device publishes only its own reports and reads only its own commands (and the hub's status).

    A gateway may also announce (``info``) any device id of its area, which is how a new device
    behind it becomes known (the hub refuses an announcement that claims a device already known
    to be elsewhere); it speaks for the devices accepted behind it through grants added to its
    role one by one (``grant_commands``), and for no other.
    """
    rules = own_acls(_NATIVE.device_topics(area, device, kind is Kind.GATEWAY))
    if kind is Kind.GATEWAY:
        rules.append(acl("publishClientSend", f"{topics.ROOT}/{area}/+/{topics.Channel.INFO.value}"))
    # Whether the hub is up (protocol 1.1: a device may show it), read-only.
    rules += [
        acl("subscribeLiteral", topics.HUB_STATUS_TOPIC),
        acl("publishClientReceive", topics.HUB_STATUS_TOPIC),
    ]
    return rules


def own_acls(own: DeviceTopics) -> list[dict[str, Any]]:
    """A device's own topics, as its protocol's codec names them."""
    rules = [acl("publishClientSend", t) for t in own.publish]
    for t in own.read:
        sub = "subscribePattern" if "+" in t or "#" in t else "subscribeLiteral"
        rules += [acl(sub, t), acl("publishClientReceive", t)]
    return rules


def carried_acls(area: str, device: str) -> list[dict[str, Any]]:
    """What a gateway may do for one device behind it (its ``info`` is covered by the area pattern)."""
    cmd = topics.topic(area, device, topics.Channel.CMD)
    rules = [acl("publishClientSend", topics.topic(area, device, c)) for c in _CARRIED_CHANNELS]
    return [*rules, acl("subscribeLiteral", cmd), acl("publishClientReceive", cmd)]


def tool_acls(filters: Sequence[str], *, publish: bool = True) -> list[dict[str, Any]]:
    """Read (and optionally write) access to ``filters``: simulators, benchmarks, test probes."""
    rules = []
    for f in filters:
        rules += [acl("subscribePattern", f), acl("publishClientReceive", f)]
        if publish:
            rules.append(acl("publishClientSend", f))
    return rules


def role_name(username: str) -> str:
    return f"role.{username}"


def replace_commands(
    username: str,
    password: str,
    acls: list[dict[str, Any]],
    extra_roles: Sequence[list[dict[str, Any]]] = (),
    old_roles: Iterable[str] = (),
) -> list[dict[str, Any]]:
    """Drop any earlier account of that name (disconnecting it), then create it afresh.

    The account is bound to the client id equal to its username: nobody else can take that
    client id, and the account cannot take anyone else's. ``extra_roles`` hold more rules
    than one request to the broker may carry (a gateway's grants), as roles of their own.
    """
    role = role_name(username)
    extras = [f"{role}.{n}" for n in range(1, len(extra_roles) + 1)]
    return [
        *revoke_commands(username, old_roles),
        {"command": "createRole", "rolename": role, "acls": acls},
        *(
            {"command": "createRole", "rolename": r, "acls": a}
            for r, a in zip(extras, extra_roles, strict=True)
        ),
        {
            "command": "createClient",
            "username": username,
            "clientid": username,
            "password": password,
            "roles": [{"rolename": r} for r in (role, *extras)],
        },
    ]


def hub_account_commands(client_id: str, password: str) -> list[dict[str, Any]]:
    """Another hub process's own account: the hub's roles, bound to its client id."""
    return [
        {"command": "deleteClient", "username": client_id},
        {
            "command": "createClient",
            "username": client_id,
            "clientid": client_id,
            "password": password,
            "textName": "Khu hub (another process)",
            "roles": [{"rolename": ADMIN_ROLE}, {"rolename": HUB_ROLE}],
        },
    ]


def grant_commands(area: str, gateway: str, device: str) -> list[dict[str, Any]]:
    """Give a gateway the topics of a device behind it, on its own role."""
    role = role_name(device_username(area, gateway))
    return [{"command": "addRoleACL", "rolename": role, **rule} for rule in carried_acls(area, device)]


def ungrant_commands(area: str, device: str, roles: Iterable[str]) -> list[dict[str, Any]]:
    """Take a device's topics back from whichever of a gateway's roles hold them."""
    return [
        {"command": "removeRoleACL", "rolename": role, "acltype": r["acltype"], "topic": r["topic"]}
        for role in roles
        for r in carried_acls(area, device)
    ]


def carry_roles(area: str, carries: Iterable[str]) -> list[list[dict[str, Any]]]:
    """A gateway's grants for the devices behind it, cut into roles that each fit one request.

    Mosquitto 2.0's plugin saves its whole file after every command: one ``createRole`` per
    few dozen devices keeps provisioning a gateway of thousands of devices to seconds, where
    an ``addRoleACL`` per rule would rewrite a growing file tens of thousands of times.
    """
    roles: list[list[dict[str, Any]]] = []
    size = REQUEST_MAX_BYTES
    for device in carries:
        rules = carried_acls(area, device)
        length = len(json.dumps(rules))
        if size + length > REQUEST_MAX_BYTES - 1000:
            roles.append([])
            size = 0
        roles[-1] += rules
        size += length
    return roles


def revoke_commands(username: str, old_roles: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Delete the account and its roles (``old_roles``: the extra ones it has, if any)."""
    roles = dict.fromkeys((role_name(username), *old_roles))
    return [
        {"command": "deleteClient", "username": username},
        *({"command": "deleteRole", "rolename": r} for r in roles),
    ]
