"""Residents' notifications: persist, show in the live feed, deliver by Web Push and Apprise.

``notify_residents`` and ``notify_staff`` only write to the database and hand the rest to the
delivery worker, so a caller (a broadcast, the camera watcher) never waits on the network.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Priority
from hub.live import LiveHub
from hub.models import Area, Role, User
from hub.notifications import apprise_channel, feed
from hub.notifications.delivery import DeliveryWorker, RetryPolicy
from hub.notifications.folding import fold_over_cap
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import (
    Audience,
    Channel,
    ChannelConfig,
    Delivery,
    DeliveryStatus,
    Notification,
    PushSubscription,
)
from hub.notifications.webpush import WebPushSender, load_vapid_key, origin, public_key_b64
from hub.settings import Settings

log = logging.getLogger(__name__)

_RECIPIENT_ROLES = {
    Audience.RESIDENTS: (Role.RESIDENT.value,),
    Audience.STAFF: (Role.HEAD.value, Role.DEPUTY.value),
}


# Characters of a notification's text carried in a push message.
PUSH_BODY_MAX = 1000


def _utcnow() -> datetime:
    return datetime.now(UTC)


class NotificationService:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        metrics: NotificationMetrics,
        hub_secret: str,
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self.metrics = metrics
        # Tests move time here (quiet hours) instead of waiting for the night to end.
        self.clock: Callable[[], datetime] = _utcnow
        # Non-emergency notifications a recipient gets a minute before the rest fold; tests lower it.
        self.cap_per_minute = settings.notify_cap_per_minute
        self.feed = LiveHub()
        self.urls = apprise_channel.UrlBox(hub_secret)
        key = load_vapid_key(settings)
        self.vapid_public_key = public_key_b64(key)
        subject = settings.push_vapid_subject or (
            settings.base_url if settings.base_url.startswith("https://") else "mailto:khu-hub@localhost"
        )
        self.push = WebPushSender(key, subject, settings.push_ttl_s, settings.push_timeout_s)
        self.worker = DeliveryWorker(
            sessions,
            RetryPolicy(
                settings.notify_retry_base_s,
                settings.notify_retry_max_s,
                settings.notify_max_attempts,
                settings.notify_claim_s,
            ),
            self.push.send,
            lambda url, title, body, prio: apprise_channel.send(
                url,
                title,
                body,
                prio,
                settings.notify_apprise_timeout_s,
                settings.notify_allow_private_urls,
            ),
            self.urls,
            metrics,
            lambda: self.clock(),  # noqa: PLW0108  (late-bound: tests replace the clock)
            self.push_payload,
            poll_s=settings.notify_poll_s,
            batch=settings.notify_batch,
            threads=settings.notify_threads,
        )

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.feed.stop()
        self.worker.stop()

    # --- the contract other parts of the hub call --------------------------------------

    def notify_residents(
        self,
        area_id: int,
        title: str,
        body: str,
        priority: Priority,
        audio_url: str | None = None,
        ref: str | None = None,
        kind: str = "announcement",
    ) -> int:
        """Tell the residents of an area; returns the notification id (delivery is asynchronous)."""
        return self._notify(area_id, Audience.RESIDENTS, title, body, priority, audio_url, ref, kind)

    def notify_staff(
        self,
        area_id: int,
        title: str,
        body: str,
        priority: Priority,
        ref: str | None = None,
        kind: str = "alert",
    ) -> int:
        """Tell the head and deputies of an area; returns the notification id."""
        return self._notify(area_id, Audience.STAFF, title, body, priority, None, ref, kind)

    # --- for the API --------------------------------------------------------------------

    def quiet_hours_changed(self, user_id: int) -> None:
        """Re-examine a user's held deliveries now: their quiet hours may have ended earlier."""
        self._release_held(Delivery.user_id == user_id)

    def channels_changed(self, area_id: int) -> None:
        """Re-examine the held deliveries of an area's channels (their quiet hours changed)."""
        ids = select(ChannelConfig.id).where(ChannelConfig.area_id == area_id).scalar_subquery()
        self._release_held(Delivery.channel_id.in_(ids))

    def _release_held(self, which: ColumnElement[bool]) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(Delivery)
                .where(which, Delivery.status == DeliveryStatus.HELD_QUIET.value)
                .values(next_attempt_at=self.clock())
                .execution_options(synchronize_session=False)
            )
        self.worker.wake()

    def push_payload(self, n: Notification, area_code: str) -> dict[str, Any]:
        """What a phone's service worker receives: enough to show it and open the page."""
        base = self._settings.base_url.rstrip("/")
        audio = n.audio_url
        if audio and audio.startswith("/"):
            audio = base + audio  # the phone needs an absolute address
        return {
            "id": n.id,
            "area": area_code,
            "kind": n.kind,
            "title": n.title,
            # Push services take about 4 kB; the full text is in the feed.
            "body": n.body if len(n.body) <= PUSH_BODY_MAX else n.body[: PUSH_BODY_MAX - 1] + "…",
            "priority": n.priority,
            "audio_url": audio,
            "url": f"{base}/?notification={n.id}",
        }

    # --- internals ---------------------------------------------------------------------

    def _notify(
        self,
        area_id: int,
        audience: Audience,
        title: str,
        body: str,
        priority: Priority,
        audio_url: str | None,
        ref: str | None,
        kind: str,
    ) -> int:
        level = Priority(priority)
        now = self.clock()
        with self._sessions.begin() as session:
            area = session.get(Area, area_id)
            if area is None:
                raise ValueError(f"no area with id {area_id}")
            n = Notification(
                area_id=area_id,
                audience=audience.value,
                kind=kind[:32],
                title=title[:200],
                body=body,
                priority=level.value,
                audio_url=audio_url,
                ref=ref[:64] if ref else None,
                created_at=now,
            )
            session.add(n)
            session.flush()
            deliveries = self._fan_out(session, n, area_id, audience, now)
            if level is not Priority.EMERGENCY:
                fold_over_cap(session, deliveries, self.cap_per_minute, now, self.metrics)
            session.add_all(deliveries)
            code = area.code
        self.metrics.created.labels(audience.value).inc()
        log.info(
            "notification %d (%s, %s) to %s of %s: %d deliveries",
            n.id,
            kind,
            level,
            audience,
            code,
            len(deliveries),
        )
        feed.publish(self.feed, code, n)
        if deliveries:
            self.worker.wake()
        return n.id

    def _fan_out(
        self, session: Session, n: Notification, area_id: int, audience: Audience, now: datetime
    ) -> list[Delivery]:
        """One delivery per push subscription of each recipient, and one per Apprise channel."""
        subs = session.execute(
            select(PushSubscription.id, PushSubscription.user_id, PushSubscription.endpoint)
            .join(User, User.id == PushSubscription.user_id)
            .where(
                User.area_id == area_id,
                User.active.is_(True),
                User.role.in_(_RECIPIENT_ROLES[audience]),
            )
        ).all()
        channels = session.execute(
            select(ChannelConfig.id, ChannelConfig.label).where(
                ChannelConfig.area_id == area_id,
                ChannelConfig.audience == audience.value,
                ChannelConfig.enabled.is_(True),
            )
        ).all()
        common = {"notification_id": n.id, "next_attempt_at": now, "created_at": now, "updated_at": now}
        return [
            Delivery(
                channel=Channel.WEBPUSH.value,
                user_id=uid,
                subscription_id=sid,
                target=origin(endpoint)[:200],
                **common,
            )
            for sid, uid, endpoint in subs
        ] + [
            Delivery(channel=Channel.APPRISE.value, channel_id=cid, target=label[:200], **common)
            for cid, label in channels
        ]
