"""Creating an announcement: one path for the API, broadcast programmes and emergency mode."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.payloads import Priority
from hub.broadcasts.audio import AudioError, AudioStore
from hub.broadcasts.models import Announcement, AnnouncementStatus, AudioAsset
from hub.broadcasts.service import BroadcastService
from hub.models import Area, User, Zone

MAX_TEXT = 2000


class AnnouncementError(ValueError):
    """A request that cannot become an announcement; the message says how to fix it."""


def store_audio(session: Session, store: AudioStore, area: Area, data: bytes) -> AudioAsset:
    """An uploaded file, validated and stored."""
    try:
        stored = store.add_upload(data)
    except AudioError as exc:
        raise AnnouncementError(str(exc)) from None
    asset = AudioAsset(
        id=stored.id,
        area_id=area.id,
        source="upload",
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        duration_ms=stored.duration_ms,
        sha256=stored.sha256,
    )
    session.add(asset)
    session.flush()
    return asset


def _speech(session: Session, store: AudioStore, area: Area, text: str) -> AudioAsset:
    """Render ``text`` once per area and voice; the same text reuses the same file."""
    existing = session.scalar(
        select(AudioAsset).where(
            AudioAsset.area_id == area.id,
            AudioAsset.source == "tts",
            AudioAsset.voice == area.tts_voice,
            AudioAsset.text == text,
        )
    )
    if existing is not None and store.path(existing.filename).exists():
        return existing
    try:
        stored = store.render_tts(text, area.tts_voice)
    except AudioError as exc:
        raise AnnouncementError(str(exc)) from None
    asset = AudioAsset(
        id=stored.id,
        area_id=area.id,
        source="tts",
        text=text,
        voice=area.tts_voice,
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        duration_ms=stored.duration_ms,
        sha256=stored.sha256,
    )
    session.add(asset)
    session.flush()
    return asset


def announce(
    session: Session,
    store: AudioStore,
    broadcasts: BroadcastService,
    area: Area,
    *,
    title: str,
    text: str | None,
    audio_id: str | None,
    zone_ids: list[int] | None,
    priority: Priority,
    not_before: datetime | None,
    user: User | None,
    source: str = "manual",
    notify: bool = True,
) -> Announcement:
    """Validate, render and queue an announcement (committed by the caller's transaction)."""
    if (text is None) == (audio_id is None):
        raise AnnouncementError(
            "give either 'text' (read out in Vietnamese) or 'audio_id' (an uploaded file)"
        )
    if text is not None and not (1 <= len(text.strip()) <= MAX_TEXT):
        raise AnnouncementError(f"text must have 1 to {MAX_TEXT} characters")
    if zone_ids is not None:
        found = set(session.scalars(select(Zone.id).where(Zone.area_id == area.id, Zone.id.in_(zone_ids))))
        missing = sorted(set(zone_ids) - found)
        if missing:
            raise AnnouncementError(f"no zone {missing} in area {area.code!r}")
    if not broadcasts.speakers_for(session, area.id, zone_ids):
        raise AnnouncementError("the target has no active loudspeaker; accept or assign speakers first")
    if audio_id is not None:
        asset = session.get(AudioAsset, audio_id)
        if asset is None or asset.area_id != area.id:
            raise AnnouncementError(f"no audio {audio_id!r} in this area; upload it first")
    else:
        assert text is not None
        asset = _speech(session, store, area, text.strip())
    now = datetime.now(UTC)
    later = not_before is not None and not_before > now + timedelta(seconds=1)
    ann = Announcement(
        id=uuid.uuid4().hex,
        area_id=area.id,
        title=title,
        text=text,
        audio_id=asset.id,
        priority=priority.value,
        zone_ids=zone_ids,
        status=(AnnouncementStatus.SCHEDULED if later else AnnouncementStatus.QUEUED).value,
        source=source,
        # In UTC: SQLite keeps no offset, so "19:30+07:00" would be read back as 19:30 UTC.
        not_before=not_before.astimezone(UTC) if later and not_before else now,
        notify=notify,
        created_by=user.id if user else None,
        created_at=now,
    )
    session.add(ann)
    session.flush()
    return ann
