"""The speakers' playback reports, applied to their deliveries: scheduled, playing, finished, failed.

The ingest writer hands the reports over (``collect``); the broadcast worker applies what has
gathered in one transaction (``apply``), so a thousand speakers starting together cost a few
statements, not a thousand.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcasts.models import (
    TERMINAL_DELIVERY,
    Announcement,
    AnnouncementStatus,
    DeliveryStatus,
    SpeakerDelivery,
)
from hub.bulk_sql import IN_CHUNK, update_changed
from hub.registry.changes import Change

_deliveries = cast(Table, SpeakerDelivery.__table__)
_PLAYBACK = {p.value: p for p in DeliveryStatus}


@dataclass(frozen=True, slots=True)
class _Report:
    area: str
    device: str
    state: dict[str, Any]


class SpeakerReports:
    def __init__(self) -> None:
        self._queue: queue.Queue[_Report] = queue.Queue()

    def collect(self, changes: list[Change]) -> bool:
        """Keep the playback reports among these changes; True when any is waiting. Never blocks."""
        for ch in changes:
            state = ch.fields.get("state")
            if ch.kind == "speaker" and state and state.get("announcement"):
                self._queue.put(_Report(ch.area, ch.device, state))
        return not self._queue.empty()

    def apply(self, sessions: sessionmaker[Session]) -> None:
        """Write what the reports gathered so far change, in one transaction."""
        reports: list[_Report] = []
        while True:
            try:
                reports.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if not reports:
            return
        with sessions.begin() as session:
            changed, recovered = _changes(reports, _deliveries_of(session, reports))
            update_changed(session.connection(), _deliveries, changed)
            if recovered:
                # A speaker that was given up on as silent finished after all: it counts.
                session.execute(
                    update(Announcement)
                    .where(
                        Announcement.id.in_(recovered),
                        Announcement.status == AnnouncementStatus.FAILED.value,
                    )
                    .values(status=AnnouncementStatus.DONE.value)
                )


def _deliveries_of(session: Session, reports: list[_Report]) -> dict[tuple[str, str], Any]:
    """The deliveries the reports are about (id, announcement, device, status), in a few queries."""
    announcements = {r.state["announcement"] for r in reports}
    devices = sorted({r.device for r in reports})
    rows: dict[tuple[str, str], Any] = {}
    for i in range(0, len(devices), IN_CHUNK):
        query = (
            select(
                SpeakerDelivery.id,
                SpeakerDelivery.announcement_id,
                SpeakerDelivery.device_id,
                SpeakerDelivery.status,
            )
            .where(
                SpeakerDelivery.announcement_id.in_(announcements),
                SpeakerDelivery.device_id.in_(devices[i : i + IN_CHUNK]),
            )
            .order_by(SpeakerDelivery.id)
        )
        for row in session.execute(query):
            rows.setdefault((row.announcement_id, row.device_id), row)
    return rows


def _changes(
    reports: list[_Report], rows: dict[tuple[str, str], Any]
) -> tuple[dict[int, dict[str, Any]], set[str]]:
    """What the speakers' reports change: delivery id -> new columns; announcements finished after all."""
    terminal = {s.value for s in TERMINAL_DELIVERY}
    changed: dict[int, dict[str, Any]] = {}
    recovered: set[str] = set()
    for r in reports:
        status = _PLAYBACK.get(r.state.get("playback", ""))
        row = rows.get((r.state["announcement"], r.device))
        if status is None or row is None:
            continue  # not a playback report, or not a delivery of ours
        cols = changed.setdefault(row.id, {})
        if cols.get("status", row.status) in terminal and status.value not in terminal:
            continue  # a late "playing" after the end
        cols["status"] = status.value
        if status is DeliveryStatus.FINISHED:
            recovered.add(row.announcement_id)
        if r.state.get("started_at"):
            cols["started_at"] = datetime.fromtimestamp(r.state["started_at"] / 1000, UTC)
        if r.state.get("finished_at"):
            cols["finished_at"] = datetime.fromtimestamp(r.state["finished_at"] / 1000, UTC)
        if r.state.get("error"):
            cols["error"] = str(r.state["error"])[:200]
        if r.state.get("clock_synced") is not None and r.state.get("started_at"):
            # The clock its start was read on: the proof of broadcast says whether to trust it.
            cols["detail"] = {
                "clock_synced": r.state["clock_synced"],
                "clock_offset_ms": r.state.get("clock_offset_ms"),
            }
    return changed, recovered
