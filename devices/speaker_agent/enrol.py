"""Enrolment (docs/protocol.md §9.2): announce the speaker with a secret it chose, then wait to be let in.

The area head opens enrolment in the app and reads out the window's account
(``<area>._enrol`` and a password). The agent makes its own secret (32 URL-safe characters),
keeps it in its configuration file (0600) and publishes its ``info`` with that ``secret`` on
``khu/enrol/<area>/<device>`` (QoS 1). Nothing comes back: when the head accepts the
speaker, the broker lets it in as ``<area>.<device>`` with the secret as password.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink
from devices.payloads import Kind
from devices.protocols.enrolment import Announcement, enrol_topic
from devices.speaker_agent.agent import FIRMWARE, capabilities
from devices.speaker_agent.clock import probe
from devices.speaker_agent.config import AgentConfig

log = logging.getLogger("khu-speaker")


class EnrolError(Exception):
    """Enrolment could not be done; the message says what to do."""


def new_secret() -> str:
    """The password the speaker chooses for itself: 24 random bytes, 32 URL-safe characters."""
    return secrets.token_urlsafe(24)


def _link(config: AgentConfig, client_id: str, username: str, password: str) -> tuple[MqttLink, list[str]]:
    refused: list[str] = []
    link = MqttLink(
        LinkConfig(
            config.host,
            config.port,
            client_id,
            username,
            password,
            persistent=False,
            reconnect_max_s=60,
            tls_ca_file=config.ca_file or None,
        ),
        on_refused=refused.append,
    )
    link.start()
    return link, refused


def announce(config: AgentConfig, enrol_username: str, enrol_password: str, timeout_s: float = 20) -> None:
    """Publish the speaker's announcement through the area's enrolment account."""
    link, refused = _link(config, f"{config.area}-{config.device}-enrol", enrol_username, enrol_password)
    try:
        deadline = time.monotonic() + timeout_s
        while not link.wait_connected(0.2):
            if refused:
                raise EnrolError(
                    f"the broker refused the enrolment account {enrol_username} ({refused[0]}): the window "
                    "is closed or the password is wrong; ask the area head to open enrolment again"
                )
            if time.monotonic() > deadline:
                raise EnrolError(f"cannot reach the broker at {config.host}:{config.port}")
        ann = Announcement(
            kind=Kind.SPEAKER,
            model=config.model,
            firmware=FIRMWARE,
            capabilities=capabilities(probe(config.clock_source)),
            secret=config.password,
        )
        topic = enrol_topic(config.area, config.device)
        receipt = link.publish_with_receipt(
            Outbound(topic, ann.model_dump_json(exclude_none=True).encode(), qos=1)
        )
        while receipt is None or not receipt.done():
            if receipt is None or time.monotonic() > deadline:
                raise EnrolError("the broker did not acknowledge the announcement; try again")
            time.sleep(0.05)
        log.info(
            "announced %s on %s: the area head now sees it as a new device to accept", config.device, topic
        )
    finally:
        link.stop()


def wait_accepted(config: AgentConfig, timeout_s: float, stop: threading.Event | None = None) -> bool:
    """Try the speaker's own account (with back-off) until the broker lets it in, or time runs out."""
    link, refused = _link(config, config.username, config.username, config.password)
    try:
        deadline = time.monotonic() + timeout_s
        told = False
        while time.monotonic() < deadline and not (stop and stop.is_set()):
            if link.wait_connected(0.5):
                return True
            if refused and not told:
                told = True
                log.info(
                    "waiting for the area head to accept %s (refused until then; up to %d min)",
                    config.username,
                    timeout_s // 60,
                )
        return False
    finally:
        link.stop()
