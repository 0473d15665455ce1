"""Residents' notifications (feed, Web Push, Apprise) and camera alerts to area heads."""

from hub.notifications.camera_alerts import CameraAlerts
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.service import NotificationService

__all__ = ["CameraAlerts", "NotificationMetrics", "NotificationService"]
