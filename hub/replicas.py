"""Hub replicas tell each other what they ingested, so each one's views stay whole.

With ``replica_group`` set, the broker hands each device report to one replica of the group
(a shared subscription). The replica that ingested it writes it to the shared database, then
publishes the committed changes on ``khu/hubs/<group>/changes/<its client id>``; every other
replica feeds them to what it keeps in memory: live streams, read caches, codecs, the
commands it waits on, and (on the lease holder) schedules and camera alerts. Work that must
happen once stays with the replica that ingested the report or with the lease holder.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from devices import topics
from devices.messages import Outbound
from devices.mqtt_client import Received
from hub.metrics import HubMetrics
from hub.registry.changes import Change
from hub.settings import Settings

log = logging.getLogger(__name__)
Listener = Callable[[list[Change]], None]
# Changes per message: a batch of 1,000 states stays far below the broker's 1 MiB packet limit.
CHUNK = 200
_DT = "$dt"


def shared(filter_: str, group: str) -> str:
    """``filter_`` as a subscription whose messages the broker spreads over the group."""
    return f"$share/{group}/{filter_}"


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {_DT: value.isoformat()}
    raise TypeError(f"cannot send {type(value).__name__} to a replica")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and _DT in obj:
        return datetime.fromisoformat(obj[_DT])
    return obj


def encode_changes(changes: list[Change]) -> bytes:
    rows = [[c.area, c.device, c.kind, c.fields, c.retained] for c in changes]
    return json.dumps(rows, default=_encode, separators=(",", ":")).encode()


def decode_changes(payload: bytes) -> list[Change]:
    rows = json.loads(payload, object_hook=_decode)
    if not isinstance(rows, list):
        raise ValueError("not a list of changes")
    return [Change(str(a), str(d), str(k), dict(f), bool(r)) for a, d, k, f, r in rows]


class ReplicaPeers:
    """Sends this replica's committed changes to the group and hands the others' to listeners."""

    def __init__(
        self, group: str, client_id: str, publish: Callable[[Outbound], bool], metrics: HubMetrics
    ) -> None:
        self.group = group
        self._prefix = f"{topics.HUB_PEERS_ROOT}/{group}/changes/"
        self._own = self._prefix + client_id
        self._publish = publish
        self._listeners: list[Listener] = []
        self._metrics = metrics

    @classmethod
    def of(
        cls, settings: Settings, publish: Callable[[Outbound], bool], metrics: HubMetrics
    ) -> ReplicaPeers | None:
        """The hub's peers if it is a replica of a group (``replica_group``), else None."""
        group = settings.replica_group
        return cls(group, settings.mqtt_client_id, publish, metrics) if group else None

    @property
    def subscription(self) -> str:
        return self._prefix + "+"

    def owns(self, topic: str) -> bool:
        return topic.startswith(self._prefix)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def on_changes(self, changes: list[Change]) -> None:
        """Ingest listener (writer thread, after commit): tell the other replicas."""
        for i in range(0, len(changes), CHUNK):
            if not self._publish(Outbound(self._own, encode_changes(changes[i : i + CHUNK]), qos=1)):
                log.warning("%d change(s) not sent to the other replicas: link refused them", len(changes))

    def on_message(self, msg: Received) -> None:
        """Another replica's changes (the MQTT network thread); our own come back and are skipped."""
        if msg.topic == self._own:
            return
        try:
            changes = decode_changes(msg.payload)
        except (ValueError, TypeError) as exc:
            self._metrics.replica_refused.inc()
            log.warning("unreadable changes from replica %s: %s", msg.topic.removeprefix(self._prefix), exc)
            return
        self._metrics.replica_changes.inc(len(changes))
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:
                log.exception("replica changes listener %r failed", listener)
