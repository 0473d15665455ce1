"""Starting an announcement on its speakers, and ending it when every speaker has answered."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, Table, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from hub.broadcasts.audio_links import AudioLinks
from hub.broadcasts.models import (
    TERMINAL_DELIVERY,
    Announcement,
    AnnouncementStatus,
    AudioAsset,
    DeliveryStatus,
    SpeakerDelivery,
)
from hub.bulk_sql import insert_rows_skipping_duplicates
from hub.commands.factory import copies
from hub.commands.service import PUBLISH_FAILED, CommandService, Staged, Target
from hub.models import Area, as_utc

log = logging.getLogger(__name__)
_deliveries = cast(Table, SpeakerDelivery.__table__)
_ENDS = (DeliveryStatus.FINISHED.value, DeliveryStatus.STOPPED.value)
STOPPED_NOTE = "stopped on its speakers by a stop order"


class Playback:
    def __init__(
        self, sessions: sessionmaker[Session], commands: CommandService, links: AudioLinks, lead: timedelta
    ) -> None:
        self._sessions = sessions
        self._commands = commands
        self.links = links
        # Every speaker of one announcement starts this long from now, together.
        self._lead = lead

    def start(self, area: Area, ann: Announcement, speakers: list[Target]) -> AudioAsset:
        """Send the play to the online speakers and record a delivery for every one; the audio played."""
        start_at = datetime.now(UTC) + self._lead
        with self._sessions() as session:
            asset = session.get(AudioAsset, ann.audio_id)
        assert asset is not None
        # No play is sent that no speaker could fetch (audio_links: KHU_PUBLIC_URL unset).
        refused = self.links.refusal
        online = [d for d in speakers if d.online] if refused is None else []
        params: dict[str, object] = {
            "announcement": ann.id,
            "url": self.links.for_play(asset, ann.id, start_at),
            "priority": ann.priority,
            "start_at": int(start_at.timestamp() * 1000),
        }
        make = copies("speaker.play", params)
        staged: list[Staged] = []
        # The commands, the deliveries and the announcement's start in one transaction: a
        # speaker's answer always finds its delivery, and a crash leaves none of them.
        with self._sessions.begin() as session:
            if online:
                staged.append(
                    self._commands.stage(
                        session,
                        area,
                        online,
                        "speaker.play",
                        params,
                        make,
                        None,
                        wait_s=0,
                        # exp = start_at + the grace: a speaker whose clock is a little fast
                        # still plays it; one that gets it much later does not start it late.
                        ttl_s=(self._lead + self.links.grace).total_seconds(),
                        source="broadcast",
                    )
                )
            sent = {r.device_id: r.id for st in staged for r in st.rows}
            rows: list[dict[str, Any]] = [
                {
                    "device_pk": d.id,
                    "device_id": d.device_id,
                    "status": _first_status(d.device_id in sent, d.online, refused).value,
                    "command_id": sent.get(d.device_id),
                    "error": None
                    if d.device_id in sent
                    else (refused if d.online and refused else "speaker offline when the broadcast started"),
                }
                for d in speakers
            ]
            # Many rows per statement; (announcement, speaker) is unique, so only the padding is skipped.
            insert_rows_skipping_duplicates(
                session.connection(), _deliveries, rows, also={"announcement_id": ann.id, "detail": {}}
            )
            session.execute(
                update(Announcement)
                .where(Announcement.id == ann.id)
                .values(status=AnnouncementStatus.PLAYING.value, start_at=start_at)
            )
        failed = self._commands.publish(staged)
        if failed:
            with self._sessions.begin() as session:
                session.execute(
                    update(SpeakerDelivery)
                    .where(SpeakerDelivery.command_id.in_(failed))
                    .values(status=DeliveryStatus.FAILED.value, error=PUBLISH_FAILED)
                )
        log.info(
            "announcement %s starts at %s on %d/%d speaker(s)", ann.id, start_at, len(online), len(speakers)
        )
        if refused is not None:
            log.error("announcement %s sent to no speaker: %s", ann.id, refused)
        return asset


def finish_if_done(session: Session, ann: Announcement, now: datetime, end_grace: timedelta) -> bool:
    """End a playing announcement once every speaker has answered or its time is up; True if it ended."""
    asset = session.get(AudioAsset, ann.audio_id)
    duration = timedelta(milliseconds=asset.duration_ms if asset else 0)
    deadline = as_utc(ann.start_at or now) + duration + end_grace
    terminal = [s.value for s in TERMINAL_DELIVERY]
    of_ann = SpeakerDelivery.announcement_id == ann.id
    # Statements that check the status they change, not the objects read at the start of
    # the tick: a cancel committed in between (the emergency's end) stopped the speakers,
    # and must not be overwritten by "no answer" and "failed".
    if now > deadline:
        session.execute(
            update(SpeakerDelivery)
            .where(of_ann, SpeakerDelivery.status.not_in(terminal))
            .values(status=DeliveryStatus.NO_ANSWER.value, error="no end reported in time")
            .execution_options(synchronize_session=False)
        )
    # Counted in the database: this runs on every tick while a thousand speakers play.
    still_open = session.scalar(select(func.count()).where(of_ann, SpeakerDelivery.status.not_in(terminal)))
    if not still_open:
        ends = dict(
            session.execute(
                select(SpeakerDelivery.status, func.count())
                .where(of_ann, SpeakerDelivery.status.in_(_ENDS))
                .group_by(SpeakerDelivery.status)
            ).all()
        )
        status, note = AnnouncementStatus.FAILED, ann.note
        if ends.get(DeliveryStatus.FINISHED.value):
            status = AnnouncementStatus.DONE
        elif ends.get(DeliveryStatus.STOPPED.value):
            # A stop order (speaker.stop) ended it where nothing played to the end: it was
            # called off, not a failure; its coverage shows what played until then.
            status, note = AnnouncementStatus.CANCELLED, note or STOPPED_NOTE
        ended = cast(
            CursorResult[Any],
            session.execute(
                update(Announcement)
                .where(Announcement.id == ann.id, Announcement.status == AnnouncementStatus.PLAYING.value)
                .values(status=status.value, finished_at=now, note=note)
                .execution_options(synchronize_session=False)
            ),
        )
        return bool(ended.rowcount)

    return False


def _first_status(sent: bool, online: bool, refused: str | None) -> DeliveryStatus:
    if sent:
        return DeliveryStatus.SENT
    return DeliveryStatus.FAILED if online and refused else DeliveryStatus.OFFLINE
