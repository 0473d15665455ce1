"""Prometheus counters of notifications, registered on the hub's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class NotificationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.created = Counter(
            "khu_notifications", "Notifications created, by audience", ["audience"], registry=registry
        )
        # status: sent, retry, failed, pruned, held_quiet
        self.deliveries = Counter(
            "khu_notify_deliveries",
            "Delivery attempts and decisions, by channel and outcome",
            ["channel", "status"],
            registry=registry,
        )
        self.camera_alerts = Counter(
            "khu_camera_alerts", "Camera alerts sent to area heads, by kind", ["kind"], registry=registry
        )

        self.incidents_opened = Counter(
            "khu_incidents_opened",
            "Incidents opened: outages of one area that began together",
            registry=registry,
        )
        self.folded = Counter(
            "khu_notifications_folded",
            "Notifications over a recipient's per-minute cap, folded into a summary, by channel",
            ["channel"],
            registry=registry,
        )

    def delivery_counts(self) -> dict[tuple[str, str], float]:
        """Current delivery counts by (channel, status), for tests and diagnostics."""
        out: dict[tuple[str, str], float] = {}
        for metric in self.deliveries.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    out[(sample.labels["channel"], sample.labels["status"])] = sample.value
        return out
