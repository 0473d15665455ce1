"""Prometheus metrics of one hub instance (own registry, so tests can run several hubs)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hub.models import Device, DeviceStatus


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = ChannelCounts("khu_mqtt_messages_in", "MQTT messages received", r)
        self.messages_out = Counter("khu_mqtt_messages_out", "MQTT messages published", registry=r)
        self.rejected = Counter(
            "khu_mqtt_rejected", "Inbound messages refused, by reason", ["reason"], registry=r
        )
        self.duplicates = Counter(
            "khu_mqtt_duplicates", "Replayed reports ignored (same timestamp as stored)", registry=r
        )
        self.committed = Counter(
            "khu_ingest_committed", "Inbound messages applied to the database", registry=r
        )
        self.batch_size = Histogram(
            "khu_ingest_batch_size",
            "Messages per ingest transaction",
            buckets=(1, 5, 20, 100, 500, 1000, 5000),
            registry=r,
        )
        self.db_errors = Counter(
            "khu_ingest_db_errors", "Ingest transactions that failed and were retried", registry=r
        )
        self.connected = Gauge("khu_mqtt_connected", "1 while the hub is connected", registry=r)
        self.queue_depth = Gauge("khu_ingest_queue_depth", "Messages waiting for the writer", registry=r)
        self.replica_changes = Counter(
            "khu_replica_changes_in", "Changes another hub replica stored and told this one", registry=r
        )
        self.replica_refused = Counter(
            "khu_replica_messages_refused", "Unreadable messages on the replicas' topic", registry=r
        )

    def rejections(self) -> dict[str, float]:
        """Current rejection counts by reason."""
        out: dict[str, float] = {}
        for metric in self.rejected.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["reason"]] = sample.value
        return out


class CommandMetrics:
    """Command outcomes and sent-to-confirmed latency, fed by the runtime's send and outcome hooks."""

    _MAX_TRACKED = 200_000  # bounded: a command never answered must not leak memory

    def __init__(self, registry: CollectorRegistry) -> None:
        self.outcomes = Counter(
            "khu_command_outcomes", "Commands by final status", ["action", "status"], registry=registry
        )
        self.latency = Histogram(
            "khu_command_latency_seconds",
            "From publishing a command to the device's confirming state",
            buckets=(0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self._sent: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def sent(self, command_id: str, action: str) -> None:
        with self._lock:
            if len(self._sent) >= self._MAX_TRACKED:
                self._sent.pop(next(iter(self._sent)))
            self._sent[command_id] = (time.monotonic(), action)

    def finished(self, command_id: str, status: str) -> None:
        with self._lock:
            # A timed-out command may still be confirmed later: keep its start time until then.
            started = (
                self._sent.get(command_id) if status == "timed_out" else self._sent.pop(command_id, None)
            )
        action = started[1] if started else "unknown"
        self.outcomes.labels(action, status).inc()
        if started is not None and status == "confirmed":
            self.latency.observe(time.monotonic() - started[0])


class ChannelCounts:
    """A counter by channel that one thread adds to, read when Prometheus scrapes.

    prometheus_client's counters take a lock on every increment: ~11 % of the MQTT network
    thread's time while it took in a backlog, one increment per message.
    """

    def __init__(self, name: str, documentation: str, registry: CollectorRegistry) -> None:
        self._name, self._documentation = name, documentation
        self._counts: dict[str, int] = {}
        registry.register(self)

    def inc(self, channel: str) -> None:
        """Count one message (from the MQTT network thread only)."""
        self._counts[channel] = self._counts.get(channel, 0) + 1

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self._name, self._documentation, labels=["channel"])
        for channel, count in list(self._counts.items()):  # one copy, made while holding the GIL
            family.add_metric([channel], count)
        yield family


class ScheduleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "khu_schedule_runs",
            "Schedule firings by kind and outcome (done, late, missed, suppressed)",
            ["kind", "outcome"],
            registry=registry,
        )


class DevicesOnline:
    """Devices online by kind, counted in the database when Prometheus scrapes."""

    def __init__(self, sessions: sessionmaker[Session], registry: CollectorRegistry) -> None:
        self._sessions = sessions
        registry.register(self)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("khu_devices_online", "Accepted devices online, by kind", labels=["kind"])
        try:
            with self._sessions() as session:
                rows = session.execute(
                    select(Device.kind, func.count())
                    .where(Device.status == DeviceStatus.ACTIVE.value, Device.online.is_(True))
                    .group_by(Device.kind)
                ).all()
        except Exception:
            rows = []  # the database is away: /metrics still answers, /readyz tells the story
        for kind, count in rows:
            family.add_metric([kind], count)
        yield family
