"""Prometheus metrics of one hub instance (own registry, so tests can run several hubs)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class HubMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.messages_in = Counter("khu_mqtt_messages_in", "MQTT messages received", ["channel"], registry=r)
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

    def rejections(self) -> dict[str, float]:
        """Current rejection counts by reason."""
        out: dict[str, float] = {}
        for metric in self.rejected.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[sample.labels["reason"]] = sample.value
        return out
