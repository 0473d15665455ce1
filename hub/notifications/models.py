"""Tables of residents' notifications, their deliveries, push subscriptions, invites, camera
outages and the incidents that group them.

They live on the hub's one declarative ``Base``; migrations 0004 and 0009 create them.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base
from hub.models import utcnow

_BIG_ID = BigInteger().with_variant(Integer(), "sqlite")


class Audience(StrEnum):
    """Who a notification is for: the residents of an area, or its head and deputies."""

    RESIDENTS = "residents"
    STAFF = "staff"


class Channel(StrEnum):
    WEBPUSH = "webpush"
    APPRISE = "apprise"


class DeliveryStatus(StrEnum):
    """queued (also while waiting for a retry) -> sent | failed | pruned; held_quiet -> queued.

    folded: never sent on its own, over the recipient's cap; a summary delivery counts it.
    """

    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"
    HELD_QUIET = "held_quiet"
    PRUNED = "pruned"
    FOLDED = "folded"


# Deliveries the worker still has to do something with.
OPEN_DELIVERY_STATUSES = (DeliveryStatus.QUEUED.value, DeliveryStatus.HELD_QUIET.value)


class Notification(Base):
    """One announcement or alert; the feed history is this table."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_area_audience", "area_id", "audience", "id"),)

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    priority: Mapped[str] = mapped_column(String(16))
    audio_url: Mapped[str | None] = mapped_column(String(1000))
    ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Delivery(Base):
    """One notification to one push subscription or one Apprise channel, with its retries."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        Index("ix_notification_deliveries_due", "status", "next_attempt_at"),
        Index("ix_notification_deliveries_notification", "notification_id", "status"),
        Index("ix_notification_deliveries_user", "user_id", "status"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    # Whose quiet hours apply (push); None for an area's Apprise channel.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Removing a subscription or channel keeps the delivery's history.
    subscription_id: Mapped[int | None] = mapped_column(
        ForeignKey("push_subscriptions.id", ondelete="SET NULL")
    )
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("notification_channels.id", ondelete="SET NULL")
    )
    # Shown to the head: a push service's host or a channel's label, never a secret.
    target: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # A summary delivery: how many notifications over the recipient's cap it stands for.
    folded: Mapped[int | None] = mapped_column()


class PushSubscription(Base):
    """A browser's Web Push subscription (``PushSubscription.toJSON()``) for one user."""

    __tablename__ = "push_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChannelConfig(Base):
    """An Apprise URL of an area (Telegram group, e-mail list, ntfy topic...), encrypted at rest."""

    __tablename__ = "notification_channels"
    __table_args__ = (Index("ix_notification_channels_area", "area_id", "audience"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    audience: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(120))
    url_secret: Mapped[str] = mapped_column(Text)
    url_masked: Mapped[str] = mapped_column(String(300))
    enabled: Mapped[bool] = mapped_column(default=True)
    # Optional quiet hours of the channel itself ("HH:MM", the area's time zone).
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class QuietHoursRow(Base):
    """A user's quiet hours; ``timezone`` None means the area's."""

    __tablename__ = "quiet_hours"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    start: Mapped[str] = mapped_column(String(5))
    end: Mapped[str] = mapped_column(String(5))
    timezone: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AreaInvite(Base):
    """A code residents register with; only its hash is kept, the head sees it once."""

    __tablename__ = "area_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(8))
    max_uses: Mapped[int] = mapped_column()
    uses: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Incident(Base):
    """Outages of one area that began together (a power cut, a gateway lost): one alert, one recovery.

    ``summary`` is what went dark, counted when the head was told: {"kinds": {kind: n},
    "gateways": [name], "zones": [name]}.
    """

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_area", "area_id", "id"),
        Index("ix_incidents_open", "ended_at"),
        # A purged notification is looked up here (ON DELETE SET NULL): migration 0012.
        Index("ix_incidents_alert_notification", "alert_notification_id"),
        Index("ix_incidents_recovery_notification", "recovery_notification_id"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    alerted: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    alert_notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    recovery_notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )


class CameraOutage(Base):
    """A camera's time offline; ``alerted`` once it outlasted the debounce and the head was told."""

    __tablename__ = "camera_outages"
    __table_args__ = (
        Index("ix_camera_outages_device", "device_pk", "id"),
        Index("ix_camera_outages_open", "ended_at"),
        Index("ix_camera_outages_incident", "incident_id"),
        Index("ix_camera_outages_alert_notification", "alert_notification_id"),
        Index("ix_camera_outages_recovery_notification", "recovery_notification_id"),
        UniqueConstraint("device_pk", "started_at", name="uq_camera_outages_start"),
    )

    id: Mapped[int] = mapped_column(_BIG_ID, primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    alerted: Mapped[bool] = mapped_column(default=False)
    alert_notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    recovery_notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("notifications.id", ondelete="SET NULL")
    )
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incidents.id", ondelete="SET NULL"))
