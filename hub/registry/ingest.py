"""From broker to database: decode on the network thread, persist in batches on one writer.

QoS 1 messages are acknowledged to the broker only after their batch committed, so a hub
crash or a database outage loses nothing: the broker redelivers to the persistent session.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import cast

from sqlalchemy.exc import DBAPIError, OperationalError

from devices.codec import Codec
from devices.messages import Inbound, Rejected, RejectReason
from devices.mqtt_client import Received
from hub.metrics import HubMetrics
from hub.registry.changes import Change, Claim
from hub.registry.store import BatchResult, RegistryStore

log = logging.getLogger(__name__)

Ack = Callable[[Sequence[tuple[int, int]]], None]  # (mid, qos) of each message
Listener = Callable[[list[Change]], None]
_STOP = object()


def _retained(msg: Inbound) -> Inbound:
    return replace(msg, source=replace(msg.source, retained=True))


class RejectionLog:
    """Logs rejections without letting a flood of garbage flood the log."""

    def __init__(self, per_minute: int = 30) -> None:
        self._per_minute = per_minute
        self._window = 0.0
        self._count = 0
        self._suppressed = 0

    def __call__(self, topic: str, rej: Rejected) -> None:
        now = time.monotonic()
        if now - self._window > 60:
            if self._suppressed:
                log.warning("%d more rejections not logged in the last minute", self._suppressed)
            self._window, self._count, self._suppressed = now, 0, 0
        self._count += 1
        if self._count <= self._per_minute:
            log.warning("rejected message on %s: %s", topic[:200], rej)
        else:
            self._suppressed += 1


class Ingestor:
    def __init__(
        self,
        codecs: Sequence[Codec],
        store: RegistryStore,
        metrics: HubMetrics,
        *,
        batch_max: int,
        flush_ms: int,
        queue_max: int,
    ) -> None:
        self._codecs = list(codecs)
        self._store = store
        self._metrics = metrics
        self._batch_max = batch_max
        self._flush_s = flush_ms / 1000
        # SimpleQueue (C, no Condition to notify on every put): queue.Queue's put was ~6 % of
        # the hub's CPU when draining a backlog. Bounded by hand in ``handle``, its only producer.
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._queue_max = queue_max
        self._ack: Ack = lambda received: None
        self._listeners: list[Listener] = []
        # Told, after the commit, of gateways that now speak for a device (see ``Claim``).
        self.on_claims: Callable[[list[Claim]], None] | None = None
        self._log_rejection = RejectionLog()
        self._thread = threading.Thread(target=self._run, name="ingest-writer", daemon=True)
        self.db_healthy = True

    def set_ack(self, ack: Ack) -> None:
        self._ack = ack

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10) -> None:
        """Finish what is queued, then stop the writer."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    # --- network thread -------------------------------------------------------------

    def handle(self, msg: Received) -> None:
        """Called by the MQTT link for every message; must be quick and never raise."""
        codec = None
        for c in self._codecs:  # a plain loop: a generator per message showed in profiles
            if c.claims(msg.topic):
                codec = c
                break
        # The native channel, or the protocol: a foreign topic's last level may be a device name.
        if codec is self._codecs[0]:
            label = msg.topic.rsplit("/", 1)[-1][:16]
        else:
            label = codec.name if codec is not None else "none"
        self._metrics.messages_in.inc(label)
        try:
            if codec is None:
                raise Rejected(RejectReason.BAD_TOPIC, "no codec claims this topic")
            inbound = self._decode(codec, msg)
        except Rejected as rej:
            self._reject(msg.topic, rej)
            self._ack([(msg.mid, msg.qos)])
            return
        if self._queue.qsize() >= self._queue_max:
            if msg.qos == 0:
                self._reject(msg.topic, Rejected(RejectReason.OVERLOADED, "ingest queue full"))
                return
            # QoS 1 is bounded by the broker's in-flight window, so waiting here is short
            # and keeps the message; the broker holds the rest.
            while self._queue.qsize() >= self._queue_max:
                time.sleep(0.001)
        self._queue.put((inbound, msg.mid, msg.qos))

    def _decode(self, codec: Codec, msg: Received) -> Inbound | list[Inbound]:
        """The codec's reading of a message, marked when the broker replayed it (retained)."""
        decoded = codec.decode(msg.topic, msg.payload)
        if not isinstance(decoded, list):  # codecs give lists: cheaper to test than a Sequence
            one = cast(Inbound, decoded)
            return _retained(one) if msg.retain else one
        # One entry of a list refused (a bridge's device badly named) spares the rest.
        kept: list[Inbound] = []
        for m in decoded:
            if isinstance(m, Rejected):
                self._reject(msg.topic, m)
            else:
                kept.append(_retained(m) if msg.retain else m)
        return kept

    def _reject(self, topic: str, rej: Rejected) -> None:
        self._metrics.rejected.labels(rej.reason.value).inc()
        self._log_rejection(topic, rej)

    # --- writer thread --------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            batch = [first]
            # Take what is already waiting (natural batching: no added latency when idle,
            # big transactions under load); linger only if configured to.
            deadline = time.monotonic() + self._flush_s
            while len(batch) < self._batch_max:
                try:
                    remaining = deadline - time.monotonic()
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            self._metrics.queue_depth.set(self._queue.qsize())
            self._commit(batch)  # type: ignore[arg-type]

    def _commit(self, batch: list[tuple[Inbound | list[Inbound], int, int]]) -> None:
        # A message that spoke for several devices (a bridge's list) is one entry: acknowledged once.
        messages = [one for m, _, _ in batch for one in (m if isinstance(m, list) else (m,))]
        delay = 0.05
        while True:
            try:
                result = self._store.apply(messages)
                break
            except (OperationalError, DBAPIError) as exc:
                # The database is busy or away: keep the batch, unacknowledged, and retry.
                self.db_healthy = False
                self._metrics.db_errors.inc()
                log.error("ingest transaction failed, retrying in %.2fs: %s", delay, exc.orig)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
            except Exception:
                log.exception("ingest batch failed; applying its messages one by one")
                result = self._apply_singly(messages)
                break
        self.db_healthy = True
        for msg, rej in result.rejected:
            self._reject(f"{msg.source.area}/{msg.source.device}", rej)
        self._metrics.duplicates.inc(result.duplicates)
        self._metrics.committed.inc(len(messages) - len(result.rejected))
        self._metrics.batch_size.observe(len(messages))
        self._ack([(mid, qos) for _, mid, qos in batch])
        if result.claims and self.on_claims is not None:
            try:
                self.on_claims(result.claims)
            except Exception:
                log.exception("claims listener failed")
        if result.changes:
            for listener in self._listeners:
                try:
                    listener(result.changes)
                except Exception:
                    log.exception("change listener failed")

    def _apply_singly(self, messages: list[Inbound]) -> BatchResult:
        total = BatchResult()
        for msg in messages:
            try:
                one = self._store.apply([msg])
            except Exception as exc:
                log.exception("message from %s/%s could not be stored", msg.source.area, msg.source.device)
                total.rejected.append((msg, Rejected(RejectReason.INVALID, f"store error: {exc}")))
                continue
            total.changes.extend(one.changes)
            total.claims.extend(one.claims)
            total.rejected.extend(one.rejected)
            total.duplicates += one.duplicates
        return total
