"""Tables of announcements, their audio and their per-speaker delivery (the proof of broadcast)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import Base
from hub.models import utcnow


class AnnouncementStatus(StrEnum):
    SCHEDULED = "scheduled"  # waits for its start time
    QUEUED = "queued"  # waits for its speakers to be free
    PLAYING = "playing"
    DONE = "done"  # every reachable speaker reported an end
    INTERRUPTED = "interrupted"  # pre-empted by an emergency; re-queued as a new announcement
    CANCELLED = "cancelled"
    FAILED = "failed"  # no speaker could play it


OPEN_ANNOUNCEMENT = (AnnouncementStatus.SCHEDULED, AnnouncementStatus.QUEUED, AnnouncementStatus.PLAYING)


class DeliveryStatus(StrEnum):
    OFFLINE = "offline"
    SENT = "sent"
    SCHEDULED = "scheduled"
    PLAYING = "playing"
    FINISHED = "finished"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    STOPPED = "stopped"
    NO_ANSWER = "no_answer"


TERMINAL_DELIVERY = (
    DeliveryStatus.OFFLINE,
    DeliveryStatus.FINISHED,
    DeliveryStatus.FAILED,
    DeliveryStatus.INTERRUPTED,
    DeliveryStatus.STOPPED,
    DeliveryStatus.NO_ANSWER,
)


class AudioAsset(Base):
    """An audio file the hub serves to speakers: rendered from text once, or uploaded."""

    __tablename__ = "audio_assets"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(8))  # tts | upload
    text: Mapped[str | None] = mapped_column(Text)
    voice: Mapped[str | None] = mapped_column(String(32))
    filename: Mapped[str] = mapped_column(String(128))
    content_type: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Announcement(Base):
    __tablename__ = "announcements"
    __table_args__ = (Index("ix_announcements_area_created", "area_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # also the id on the wire
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    audio_id: Mapped[str] = mapped_column(ForeignKey("audio_assets.id"))
    priority: Mapped[str] = mapped_column(String(16))
    zone_ids: Mapped[list[int] | None] = mapped_column(JSON)  # None = the whole area
    status: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16), default="manual")  # manual|programme|emergency|resumed
    not_before: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    start_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # synchronised start
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resumes: Mapped[str | None] = mapped_column(String(64))  # the announcement this one resumes
    note: Mapped[str] = mapped_column(String(400), default="")
    notify: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SpeakerDelivery(Base):
    __tablename__ = "speaker_deliveries"
    __table_args__ = (UniqueConstraint("announcement_id", "device_pk"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[str] = mapped_column(
        ForeignKey("announcements.id", ondelete="CASCADE"), index=True
    )
    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(48))
    status: Mapped[str] = mapped_column(String(16))
    command_id: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error: Mapped[str | None] = mapped_column(String(200))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class EmergencyState(Base):
    """At most one active row per area: what emergency mode changed, to put back at the end."""

    __tablename__ = "emergencies"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    announcement_id: Mapped[str | None] = mapped_column(String(64))
    started_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(200))


class BroadcastProgramme(Base):
    """A broadcast on a timetable: once, daily, on chosen weekdays, monthly, or a cron expression."""

    __tablename__ = "broadcast_programmes"

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(default=True)
    title: Mapped[str] = mapped_column(String(200))
    text: Mapped[str | None] = mapped_column(Text)
    audio_id: Mapped[str | None] = mapped_column(ForeignKey("audio_assets.id"))
    zone_ids: Mapped[list[int] | None] = mapped_column(JSON)
    priority: Mapped[str] = mapped_column(String(16), default="normal")
    # once | daily | weekly | monthly | cron; ``at`` is local HH:MM
    recurrence: Mapped[str] = mapped_column(String(8))
    at: Mapped[str | None] = mapped_column(String(8))
    on_date: Mapped[date | None] = mapped_column(Date)
    weekdays: Mapped[int] = mapped_column(default=0b1111111)
    day_of_month: Mapped[int | None] = mapped_column(Integer)
    cron: Mapped[str | None] = mapped_column(String(120))
    misfire: Mapped[str] = mapped_column(String(16), default="skip")
    grace_s: Mapped[int] = mapped_column(default=120)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
