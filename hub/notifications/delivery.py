"""The delivery worker: picks due deliveries from the database, sends them, retries with backoff.

Everything it needs is in the database, so a restart loses nothing: a delivery is claimed by
moving its ``next_attempt_at`` forward (compare-and-set, so two hubs on one database never
both send it), and a claim that a crash interrupted simply falls due again later. Network I/O
happens outside any transaction; SQLite has one writer and the ingest thread needs it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from devices.payloads import Priority
from hub.models import Area
from hub.notifications import apprise_channel
from hub.notifications.folding import summary_text
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import (
    OPEN_DELIVERY_STATUSES,
    Channel,
    ChannelConfig,
    Delivery,
    DeliveryStatus,
    Notification,
    PushSubscription,
    QuietHoursRow,
)
from hub.notifications.outcome import Outcome
from hub.notifications.quiet_hours import QuietHours, QuietHoursError
from hub.notifications.webpush import SubscriptionKeys

log = logging.getLogger(__name__)

PushSend = Callable[[SubscriptionKeys, dict[str, Any], Priority], Outcome]
AppriseSend = Callable[[str, str, str, Priority], Outcome]
Clock = Callable[[], datetime]

# What residents read first in an external message, by level ("URGENT", "PRIORITY").
_TITLE_PREFIX = {Priority.NORMAL: "", Priority.PRIORITY: "[ƯU TIÊN] ", Priority.EMERGENCY: "[KHẨN CẤP] "}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_s: float
    cap_s: float
    max_attempts: int
    claim_s: float

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt ``attempts + 1``: doubling, capped, with a little jitter.

        The jitter spreads retries of many deliveries that failed together (a push service's
        outage) so they do not all come back in the same second.
        """
        delay = min(self.cap_s, self.base_s * 2.0 ** max(0, attempts - 1))
        return delay * random.uniform(1.0, 1.25)


@dataclass(frozen=True, slots=True)
class Job:
    """One claimed delivery, with everything needed to send it outside the database."""

    delivery_id: int
    channel: str
    priority: Priority
    title: str
    body: str
    payload: dict[str, Any]
    push: SubscriptionKeys | None = None
    subscription_id: int | None = None
    url: str | None = None


class DeliveryWorker:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        policy: RetryPolicy,
        push_send: PushSend,
        apprise_send: AppriseSend,
        urls: apprise_channel.UrlBox,
        metrics: NotificationMetrics,
        now: Clock,
        payload: Callable[[Notification, str], dict[str, Any]],
        *,
        poll_s: float,
        batch: int,
        threads: int,
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._push_send = push_send
        self._apprise_send = apprise_send
        self._urls = urls
        self._metrics = metrics
        self._now = now
        self._payload = payload
        self._poll_s = poll_s
        self._batch = batch
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="notify-send")
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="notify-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 15) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    # --- the loop ----------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = self.run_once()
            except Exception:
                log.exception("notification delivery round failed")
                claimed = 0
            if claimed < self._batch:  # a full batch means more may be due: go again now
                self._wake.wait(self._poll_s)
                self._wake.clear()

    def run_once(self) -> int:
        """Claim the due deliveries (up to a batch), send them all; returns how many were claimed."""
        ids = self._claim()
        futures = [self._pool.submit(self._deliver, i) for i in ids]
        wait_all(futures)
        return len(ids)

    def _claim(self) -> list[int]:
        now = self._now()
        until = now + timedelta(seconds=self._policy.claim_s)
        claimed: list[int] = []
        with self._sessions.begin() as session:
            due = session.execute(
                select(Delivery.id, Delivery.next_attempt_at)
                .where(Delivery.status.in_(OPEN_DELIVERY_STATUSES), Delivery.next_attempt_at <= now)
                .order_by(Delivery.next_attempt_at)
                .limit(self._batch)
            ).all()
            for did, at in due:
                won = cast(
                    CursorResult[Any],
                    session.execute(
                        update(Delivery)
                        .where(
                            Delivery.id == did,
                            Delivery.next_attempt_at == at,
                            Delivery.status.in_(OPEN_DELIVERY_STATUSES),
                        )
                        .values(next_attempt_at=until)
                        .execution_options(synchronize_session=False)
                    ),
                )
                if won.rowcount == 1:
                    claimed.append(did)
        return claimed

    def _deliver(self, delivery_id: int) -> None:
        try:
            job = self._prepare(delivery_id)
            if job is None:
                return
            outcome = self._send(job)
            self._record(job, outcome)
        except Exception:
            # The claim runs out and the delivery is tried again; nothing is lost.
            log.exception("delivery %d failed unexpectedly", delivery_id)

    # --- one delivery ------------------------------------------------------------------

    def _prepare(self, delivery_id: int) -> Job | None:
        """Hold it for quiet hours, drop it if its target is gone, or return what to send."""
        now = self._now()
        with self._sessions.begin() as session:
            d = session.get(Delivery, delivery_id)
            if d is None or d.status not in OPEN_DELIVERY_STATUSES:
                return None
            n = session.get(Notification, d.notification_id)
            area = session.get(Area, n.area_id) if n is not None else None
            if n is None or area is None:
                return None
            priority = Priority(n.priority)
            quiet = None if priority is Priority.EMERGENCY else _quiet_hours(session, d, area.timezone)
            if quiet is not None and quiet.active(now):
                d.status = DeliveryStatus.HELD_QUIET.value
                d.next_attempt_at = quiet.ends_after(now)
                d.updated_at = now
                self._metrics.deliveries.labels(d.channel, "held_quiet").inc()
                return None
            d.status = DeliveryStatus.QUEUED.value  # a held delivery is due: it is on its way
            title, body = summary_text(d.folded, n.title) if d.folded else (n.title, n.body)
            if d.channel == Channel.WEBPUSH:
                sub = session.get(PushSubscription, d.subscription_id) if d.subscription_id else None
                if sub is None:
                    self._close(d, DeliveryStatus.PRUNED, "the subscription was removed", now)
                    return None
                keys = SubscriptionKeys(sub.endpoint, sub.p256dh, sub.auth)
                payload = self._payload(n, area.code)
                if d.folded:
                    payload |= {"title": title, "body": body, "kind": "summary", "folded": d.folded}
                return Job(d.id, d.channel, priority, title, body, payload, keys, sub.id)
            channel = session.get(ChannelConfig, d.channel_id) if d.channel_id else None
            if channel is None or not channel.enabled:
                self._close(d, DeliveryStatus.FAILED, "the channel was removed or disabled", now)
                return None
            try:
                url = self._urls.open(channel.url_secret)
            except apprise_channel.ChannelError as exc:
                self._close(d, DeliveryStatus.FAILED, str(exc), now)
                return None
            body += f"\n\nNghe: {n.audio_url}" if n.audio_url and not d.folded else ""  # "listen:"
            return Job(d.id, d.channel, priority, _TITLE_PREFIX[priority] + title, body, {}, url=url)

    def _send(self, job: Job) -> Outcome:
        if job.push is not None:
            return self._push_send(job.push, job.payload, job.priority)
        assert job.url is not None
        return self._apprise_send(job.url, job.title, job.body, job.priority)

    def _record(self, job: Job, outcome: Outcome) -> None:
        now = self._now()
        with self._sessions.begin() as session:
            d = session.get(Delivery, job.delivery_id)
            if d is None:
                return
            d.attempts += 1
            if outcome.ok:
                d.status, d.sent_at, d.updated_at = DeliveryStatus.SENT.value, now, now
                self._metrics.deliveries.labels(d.channel, "sent").inc()
                if job.subscription_id is not None:
                    session.execute(
                        update(PushSubscription)
                        .where(PushSubscription.id == job.subscription_id)
                        .values(last_success_at=now)
                    )
            elif outcome.gone:
                self._close(d, DeliveryStatus.PRUNED, outcome.error, now)
                # A dead subscription never comes back; the browser subscribes anew.
                session.execute(delete(PushSubscription).where(PushSubscription.id == job.subscription_id))
                log.info("pruned push subscription %s: %s", job.subscription_id, outcome.error)
            elif not outcome.retry or d.attempts >= self._policy.max_attempts:
                self._close(d, DeliveryStatus.FAILED, outcome.error, now)
            else:
                delay = max(self._policy.backoff(d.attempts), outcome.retry_after_s or 0.0)
                d.status, d.last_error, d.updated_at = DeliveryStatus.QUEUED.value, outcome.error[:400], now
                d.next_attempt_at = now + timedelta(seconds=min(delay, self._policy.cap_s))
                self._metrics.deliveries.labels(d.channel, "retry").inc()

    def _close(self, d: Delivery, status: DeliveryStatus, error: str, now: datetime) -> None:
        d.status, d.last_error, d.updated_at = status.value, error[:400], now
        self._metrics.deliveries.labels(d.channel, status.value).inc()


def _quiet_hours(session: Session, d: Delivery, area_tz: str) -> QuietHours | None:
    """The quiet hours that apply: the resident's for push, the channel's own for Apprise."""
    try:
        if d.user_id is not None:
            row = session.get(QuietHoursRow, d.user_id)
            return QuietHours.parse(row.start, row.end, row.timezone or area_tz) if row else None
        channel = session.get(ChannelConfig, d.channel_id) if d.channel_id else None
        if channel is not None and channel.quiet_start and channel.quiet_end:
            return QuietHours.parse(channel.quiet_start, channel.quiet_end, area_tz)
    except QuietHoursError as exc:
        # Stored settings were valid when saved; a time zone gone from tzdata should not block.
        log.warning("ignoring unusable quiet hours for delivery %d: %s", d.id, exc)
    return None
