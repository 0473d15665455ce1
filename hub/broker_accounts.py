"""Broker accounts for devices and tools, managed over Mosquitto's dynamic-security control topic."""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import threading
from collections.abc import Sequence
from typing import Any

from devices import topics
from devices.messages import Outbound
from devices.mqtt_client import Credentials, LinkConfig, MqttLink, Received
from devices.payloads import Kind
from hub.broker_security import acl
from hub.settings import Settings

log = logging.getLogger(__name__)

CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC = f"{CONTROL_TOPIC}/response"
_DEVICE_CHANNELS = (topics.Channel.STATE, topics.Channel.STATUS, topics.Channel.EVENT, topics.Channel.INFO)


class BrokerAccountError(RuntimeError):
    """The broker could not be reached or refused to change an account."""


def device_username(area: str, device: str) -> str:
    """A device's broker username; ``.`` never occurs in an area code or device id."""
    return f"{area}.{device}"


def device_acls(area: str, device: str, kind: Kind) -> list[dict[str, Any]]:
    """A device publishes only its own reports and reads only its own commands (and the hub's status).

    A gateway speaks for the devices wired to it, so it may do the same for every device
    of its area (and of no other area).
    """
    subject = "+" if kind is Kind.GATEWAY else device
    cmd = f"{topics.ROOT}/{area}/{subject}/{topics.Channel.CMD.value}"
    rules = [acl("publishClientSend", f"{topics.ROOT}/{area}/{subject}/{c.value}") for c in _DEVICE_CHANNELS]
    rules.append(acl("subscribePattern" if kind is Kind.GATEWAY else "subscribeLiteral", cmd))
    rules.append(acl("publishClientReceive", cmd))
    # Whether the hub is up (protocol 1.1: a device may show it), read-only.
    rules += [
        acl("subscribeLiteral", topics.HUB_STATUS_TOPIC),
        acl("publishClientReceive", topics.HUB_STATUS_TOPIC),
    ]
    return rules


def tool_acls(filters: Sequence[str], *, publish: bool = True) -> list[dict[str, Any]]:
    """Read (and optionally write) access to ``filters``: simulators, benchmarks, test probes."""
    rules = []
    for f in filters:
        rules += [acl("subscribePattern", f), acl("publishClientReceive", f)]
        if publish:
            rules.append(acl("publishClientSend", f))
    return rules


def replace_commands(username: str, password: str, acls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop any earlier account of that name (disconnecting it), then create it afresh."""
    role = f"role.{username}"
    return [
        *revoke_commands(username),
        {"command": "createRole", "rolename": role, "acls": acls},
        {
            "command": "createClient",
            "username": username,
            "password": password,
            "roles": [{"rolename": role}],
        },
    ]


def revoke_commands(username: str) -> list[dict[str, Any]]:
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": f"role.{username}"},
    ]


class BrokerAccounts:
    """A connection that creates and deletes broker accounts and waits for the broker's answer."""

    def __init__(
        self, host: str, port: int, admin: Credentials | None, client_id: str, timeout: float = 5
    ) -> None:
        self.timeout = timeout
        self._address = f"{host}:{port}"
        self._seq = itertools.count(1)
        self._prefix = f"{os.getpid()}-{secrets.token_hex(4)}"
        self._lock = threading.Lock()
        self._answers: dict[str, list[dict[str, Any]]] = {}
        self._arrived = threading.Condition(self._lock)
        self._link = MqttLink(
            LinkConfig(
                host,
                port,
                client_id,
                admin.username if admin else None,
                admin.password if admin else None,
                persistent=False,
                subscriptions=(RESPONSE_TOPIC,),
            ),
            on_message=self._on_response,
        )

    @classmethod
    def for_hub(cls, settings: Settings, purpose: str) -> BrokerAccounts:
        """Accounts managed with the hub's own broker account, on a connection of their own."""
        return cls(
            settings.mqtt_host,
            settings.mqtt_port,
            settings.mqtt_credentials(),
            f"{settings.mqtt_client_id}-{purpose}",
        )

    def start(self) -> None:
        self._link.start()

    def stop(self) -> None:
        self._link.stop()

    def __enter__(self) -> BrokerAccounts:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def provision_device(self, area: str, device: str, kind: Kind) -> Credentials:
        """A new password for the device (any earlier one stops working at once)."""
        creds = Credentials(device_username(area, device), secrets.token_urlsafe(18))
        self.run(replace_commands(creds.username, creds.password, device_acls(area, device, kind)))
        log.info("broker account %s provisioned", creds.username)
        return creds

    def revoke_device(self, area: str, device: str) -> None:
        """Delete the device's account; the broker disconnects it if it is connected."""
        self.run(revoke_commands(device_username(area, device)))
        log.info("broker account %s revoked", device_username(area, device))

    def provision_tool(self, username: str, acls: list[dict[str, Any]]) -> Credentials:
        creds = Credentials(username, secrets.token_urlsafe(18))
        self.run(replace_commands(username, creds.password, acls))
        return creds

    def run(self, commands: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Send the commands in one request; raise unless every one succeeded (deletes may miss)."""
        if not self._link.wait_subscribed(self.timeout):
            raise BrokerAccountError(
                f"the broker at {self._address} is not reachable with the hub's account, so device "
                "accounts cannot be changed; check that the broker runs and KHU_MQTT_USERNAME/"
                "KHU_MQTT_PASSWORD(_FILE) are right, then try again"
            )
        request = f"{self._prefix}-{next(self._seq)}"
        body = [c | {"correlationData": f"{request}:{i}"} for i, c in enumerate(commands)]
        self._link.publish(Outbound(CONTROL_TOPIC, json.dumps({"commands": body}).encode(), qos=1))
        with self._arrived:
            if not self._arrived.wait_for(lambda: request in self._answers, self.timeout):
                raise BrokerAccountError(
                    f"the broker at {self._address} did not answer within {self.timeout}s"
                )
            answers = self._answers.pop(request)
        for answer in answers:
            error = answer.get("error")
            if error and not str(answer.get("command", "")).startswith("delete"):
                raise BrokerAccountError(f"the broker refused {answer.get('command')}: {error}")
        return answers

    def _on_response(self, msg: Received) -> None:
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
            self._answers[request] = responses
            self._arrived.notify_all()
