"""Broker accounts for devices and tools, managed over Mosquitto's dynamic-security control topic."""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from devices.codec import DeviceTopics
from devices.messages import Outbound
from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received
from devices.payloads import Kind
from hub.broker.acls import (
    REQUEST_MAX_BYTES,
    carry_roles,
    device_acls,
    device_username,
    enrolment_acls,
    enrolment_username,
    grant_commands,
    hub_account_commands,
    own_acls,
    replace_commands,
    revoke_commands,
    role_name,
    ungrant_commands,
)
from hub.broker.bootstrap import HUB_USERNAME, TOOLS_USERNAME, tools_credentials
from hub.settings import Settings

log = logging.getLogger(__name__)
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
_CORRELATION_BYTES = 64
# Errors that leave the broker as wanted: deleting what is gone, granting what is granted,
# or changing the grants of a gateway that has no account (yet, or any more).
_HARMLESS = {
    "getClient": ("not found",),
    "deleteClient": ("not found",),
    "deleteRole": ("not found",),
    "addRoleACL": ("already exists", "Role not found"),
    "removeRoleACL": ("not found",),
}


class BrokerAccountError(RuntimeError):
    """The broker could not be reached or refused to change an account."""


class BrokerAccounts:
    """Creates and changes broker accounts over the control topic, waiting for the broker's answer.

    The hub uses its main connection (``attach``: no second connection, so no second client
    id); tools connect with the set-up tools' account (``connect``).
    """

    def __init__(self, address: str, timeout: float = 5) -> None:
        self.timeout = timeout
        self._address = address
        self._seq = itertools.count(1)
        self._prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._unawaited: set[str] = set()
        self._arrived = threading.Condition(self._lock)
        self._link: MqttLink | None = None
        self._own_link = False

    @classmethod
    def connect(cls, host: str, port: int, account: Credentials, timeout: float = 5) -> BrokerAccounts:
        """A connection of its own, with client id = the account's username (as the broker binds it)."""
        accounts = cls(f"{host}:{port}", timeout)
        accounts._link = MqttLink(
            LinkConfig(
                host,
                port,
                account.username,
                account.username,
                account.password,
                persistent=False,
                subscriptions=(RESPONSE_TOPIC,),
            ),
            on_message=accounts.on_response,
        )
        accounts._own_link = True
        return accounts

    @classmethod
    def for_tools(cls, settings: Settings) -> BrokerAccounts:
        """The set-up tools' account, kept with the broker's files in the state folder."""
        return cls.connect(
            settings.mqtt_host, settings.mqtt_port, tools_credentials(settings.state_dir / "broker")
        )

    def attach(self, link: MqttLink) -> None:
        """Use a link that subscribes to ``RESPONSE_TOPIC`` and passes what arrives there to
        ``on_response`` (the hub's main link)."""
        self._link = link

    def start(self) -> None:
        if self._own_link and self._link is not None:
            self._link.start()

    def stop(self) -> None:
        if self._own_link and self._link is not None:
            self._link.stop()

    def __enter__(self) -> BrokerAccounts:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def provision_device(
        self,
        area: str,
        device: str,
        kind: Kind,
        carries: Iterable[str] = (),
        foreign: DeviceTopics | None = None,
        password: str | None = None,
    ) -> Credentials:
        """A new password for the device (any earlier one stops working at once).

        ``carries``: for a gateway, the devices accepted behind it. ``foreign``: the topics
        of a device of another protocol, instead of the native ones. ``password``: the one
        the device chose when it enrolled itself, instead of a new one.
        """
        creds = Credentials(device_username(area, device), password or secrets.token_urlsafe(18))
        acls = device_acls(area, device, kind) if foreign is None else own_acls(foreign)
        extra = carry_roles(area, carries)
        self.run(
            replace_commands(creds.username, creds.password, acls, extra, self._roles_of(creds.username))
        )
        log.info("broker account %s provisioned", creds.username)
        return creds

    def provision_enrolment(self, area: str) -> Credentials:
        """The area's enrolment account, with a new password: it may only announce new devices.

        Shared by every device enrolling at once, so bound to no client id, and it reads
        nothing: what one enrolling device could read, all could.
        """
        creds = Credentials(enrolment_username(area), secrets.token_urlsafe(18))
        role = role_name(creds.username)
        self.run(
            [
                *revoke_commands(creds.username),
                {"command": "createRole", "rolename": role, "acls": enrolment_acls(area)},
                {
                    "command": "createClient",
                    "username": creds.username,
                    "password": creds.password,
                    "textName": f"New devices of area {area} announce themselves",
                    "roles": [{"rolename": role}],
                },
            ]
        )
        log.info("enrolment account %s provisioned", creds.username)
        return creds

    def revoke_enrolment(self, area: str) -> None:
        self.run(revoke_commands(enrolment_username(area)))
        log.info("enrolment account of %s revoked", area)

    def revoke_device(self, area: str, device: str) -> None:
        """Delete the device's account; the broker disconnects it if it is connected."""
        username = device_username(area, device)
        self.run(revoke_commands(username, self._roles_of(username)))
        log.info("broker account %s revoked", username)

    def carry(self, area: str, gateway: str, device: str, *, allow: bool) -> None:
        """Let a gateway speak for a device behind it, or stop it (``allow=False``)."""
        if allow:
            self.run(grant_commands(area, gateway, device))
        else:
            roles = self._roles_of(device_username(area, gateway))
            self.run(ungrant_commands(area, device, roles))
        log.debug("gateway %s/%s %s %s", area, gateway, "carries" if allow else "no longer carries", device)

    def _roles_of(self, username: str) -> list[str]:
        """The roles named after an account (its own, and a gateway's extra ones); [] without one."""
        answer = self.run([{"command": "getClient", "username": username}])[0]
        data = answer.get("data")
        client = data.get("client") if isinstance(data, dict) else None
        roles = client.get("roles") if isinstance(client, dict) else None
        own = role_name(username)
        names = [str(r.get("rolename")) for r in roles or [] if isinstance(r, dict)]
        return [n for n in names if n == own or n.startswith(own + ".")]

    def provision_tool(self, username: str, acls: list[dict[str, Any]]) -> Credentials:
        """An account for a tool's connection; its client id must be ``username``."""
        creds = Credentials(username, secrets.token_urlsafe(18))
        self.run(replace_commands(username, creds.password, acls))
        return creds

    def provision_hub(self, client_id: str) -> Credentials:
        """An account for another hub process, bound to ``client_id`` (also its username)."""
        # Replacing an account of that name must never replace a device's or the first hub's.
        if "." in client_id or client_id in (HUB_USERNAME, TOOLS_USERNAME) or not client_id.strip():
            raise BrokerAccountError(
                f"{client_id!r} cannot be a hub's client id: it is empty, has a dot (device "
                f"accounts are <area>.<device>) or is {HUB_USERNAME!r}/{TOOLS_USERNAME!r}"
            )
        creds = Credentials(client_id, secrets.token_urlsafe(24))
        self.run(hub_account_commands(client_id, creds.password))
        log.info("hub account %s provisioned", client_id)
        return creds

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send the commands, in order; raise unless every one succeeded (or harmlessly failed).

        They go in as few requests as fit under the broker's packet limit, one after another.
        """
        answers: list[dict[str, Any]] = []
        for part in _requests(commands):
            part_answers = self._answer(self._publish(part, awaited=True))
            answers += part_answers
            for answer in part_answers:
                error = _error(answer)
                if error:
                    raise BrokerAccountError(f"the broker refused {answer.get('command')}: {error}")
        return answers

    def _answer(self, request: str) -> list[dict[str, Any]]:
        with self._arrived:
            if not self._arrived.wait_for(lambda: request in self._answers, self.timeout):
                raise BrokerAccountError(
                    f"the broker at {self._address} did not answer within {self.timeout}s"
                )
            return self._answers.pop(request)

    def send(self, commands: list[dict[str, Any]]) -> None:
        """Send without waiting (from a thread that must not block); a refusal is logged."""
        for part in _requests(commands):
            self._publish(part, awaited=False)

    def _publish(self, commands: list[dict[str, Any]], *, awaited: bool) -> str:
        link = self._link
        # Only a caller that waits anyway may wait for the connection.
        ready = link is not None and (link.wait_subscribed(self.timeout) if awaited else link.subscribed)
        if link is None or not ready:
            raise BrokerAccountError(
                f"the broker at {self._address} is not reachable with an account that may manage "
                "accounts, so device accounts cannot be changed; check that the broker runs and "
                "the account (KHU_MQTT_USERNAME/KHU_MQTT_PASSWORD(_FILE), or the tools' account "
                "file) is right, then try again"
            )
        request = f"{self._prefix}-{next(self._seq)}"
        if not awaited:
            with self._lock:
                self._unawaited.add(request)
        body = [c | {"correlationData": f"{request}:{i}"} for i, c in enumerate(commands)]
        link.publish(Outbound(CONTROL_TOPIC, json.dumps({"commands": body}).encode(), qos=1))
        return request

    def on_response(self, msg: Received) -> None:
        """A message on ``RESPONSE_TOPIC`` (called on the link's network thread)."""
        try:
            responses = json.loads(msg.payload)["responses"]
            correlation = str(responses[0].get("correlationData", ""))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            log.warning("unreadable dynamic-security response: %r", msg.payload[:200])
            return
        request = correlation.rpartition(":")[0]
        if not request.startswith(self._prefix):
            return  # another hub's request
        with self._arrived:
            if request in self._unawaited:
                self._unawaited.discard(request)
                for answer in responses:
                    if error := _error(answer):
                        log.error("the broker refused %s: %s", answer.get("command"), error)
                return
            self._answers[request] = responses
            self._arrived.notify_all()


def _requests(commands: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The commands cut into requests of under 64 KiB each (``REQUEST_MAX_BYTES``):
    a gateway carrying thousands of devices has tens of thousands of grants."""
    parts: list[list[dict[str, Any]]] = [[]]
    size = 0
    for command in commands:
        length = len(json.dumps(command)) + _CORRELATION_BYTES
        if parts[-1] and size + length > REQUEST_MAX_BYTES:
            parts.append([])
            size = 0
        parts[-1].append(command)
        size += length
    return [p for p in parts if p]


def _error(answer: dict[str, Any]) -> str | None:
    """The answer's error, unless it leaves the broker as the command wanted it."""
    error = answer.get("error")
    if not error:
        return None
    harmless = _HARMLESS.get(str(answer.get("command")), ())
    return None if any(h in str(error) for h in harmless) else str(error)
