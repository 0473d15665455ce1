"""A per-recipient cap on non-emergency notifications: the overflow folds into one summary.

A recipient is a resident or head (all of their phones together) or an Apprise channel. Past
``cap`` notifications sent on their own within a minute, a new one is not pushed: its delivery
is kept as ``folded`` (the feed shows it as always) and one summary delivery per phone or
channel, due when that minute is over, says how many were folded. Emergencies never come
here: they are never folded nor delayed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from hub.models import as_utc
from hub.notifications.metrics import NotificationMetrics
from hub.notifications.models import Delivery, DeliveryStatus

WINDOW = timedelta(minutes=1)


def fold_over_cap(
    session: Session, fresh: list[Delivery], cap: int, now: datetime, metrics: NotificationMetrics
) -> None:
    """Fold, in place, the deliveries of one new notification to recipients over their cap."""
    if cap <= 0 or not fresh:
        return
    by_user = _recent(session, Delivery.user_id, {d.user_id for d in fresh if d.user_id is not None}, now)
    by_channel = _recent(
        session, Delivery.channel_id, {d.channel_id for d in fresh if d.channel_id is not None}, now
    )
    for d in fresh:
        recent = by_user.get(d.user_id) if d.user_id is not None else by_channel.get(d.channel_id)
        if recent is None or recent[0] < cap:
            continue
        d.status = DeliveryStatus.FOLDED.value
        metrics.folded.labels(d.channel).inc()
        _summarize(session, d, due=recent[1] + WINDOW, now=now)


def _recent(
    session: Session, column: InstrumentedAttribute[int | None], keys: Iterable[int | None], now: datetime
) -> dict[int | None, tuple[int, datetime]]:
    """Per recipient: notifications sent to it on their own in the last minute, and the first's time."""
    wanted = [k for k in keys if k is not None]
    if not wanted:
        return {}
    rows = session.execute(
        select(column, func.count(distinct(Delivery.notification_id)), func.min(Delivery.created_at))
        .where(
            column.in_(wanted),
            Delivery.created_at > now - WINDOW,
            Delivery.status != DeliveryStatus.FOLDED.value,
            Delivery.folded.is_(None),
        )
        .group_by(column)
    ).all()
    return {key: (n, as_utc(first)) for key, n, first in rows}


def _summarize(session: Session, d: Delivery, due: datetime, now: datetime) -> None:
    """Count the folded delivery in its phone's or channel's pending summary, or start one."""
    target = (
        Delivery.subscription_id == d.subscription_id
        if d.subscription_id is not None
        else Delivery.channel_id == d.channel_id
    )
    pending = session.scalar(
        select(Delivery)
        .where(
            target,
            Delivery.folded.is_not(None),
            Delivery.status == DeliveryStatus.QUEUED.value,
            Delivery.attempts == 0,
            Delivery.next_attempt_at > now,
        )
        .limit(1)
    )
    if pending is not None:
        pending.folded = (pending.folded or 0) + 1
        pending.notification_id = d.notification_id  # the summary opens the newest
        pending.updated_at = now
        return
    same: dict[str, Any] = {
        k: getattr(d, k) for k in ("notification_id", "channel", "user_id", "subscription_id", "channel_id")
    }
    session.add(
        Delivery(**same, target=d.target, folded=1, next_attempt_at=due, created_at=now, updated_at=now)
    )


def summary_text(folded: int, newest_title: str) -> tuple[str, str]:
    """Title and body of a summary delivery."""
    return (
        f"Thêm {folded} thông báo",  # "{n} more notifications"
        f"Trong phút vừa qua còn {folded} thông báo chưa gửi riêng lên điện thoại, mới nhất: "
        f"“{newest_title}”. Mở ứng dụng để xem tất cả.",
    )
