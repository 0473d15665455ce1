"""Database tables. Every change here comes with an Alembic migration in hub/migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hub.db import Base


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(at: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything the hub stores is UTC."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


class DeviceStatus(StrEnum):
    """Registration status; only ``active`` devices are controlled."""

    PENDING = "pending"
    ACTIVE = "active"
    REJECTED = "rejected"
    RETIRED = "retired"


class Role(StrEnum):
    ADMIN = "admin"
    HEAD = "head"
    DEPUTY = "deputy"
    RESIDENT = "resident"


class Area(Base):
    __tablename__ = "areas"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Ho_Chi_Minh")
    # espeak-ng voice for text announcements: vi (northern), vi-vn-x-central, vi-vn-x-south
    tts_voice: Mapped[str] = mapped_column(String(32), default="vi", server_default="vi")
    # A light changed at the light itself (wall switch, its button): "adopt" makes it the
    # desired state, "hub_wins" puts the hub's desired state back (schedules.local_changes).
    local_changes: Mapped[str] = mapped_column(String(16), default="adopt", server_default="adopt")
    # Until when new devices may announce themselves through the area's enrolment account
    # (hub.enrolment); None: closed.
    enrol_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    zones: Mapped[list[Zone]] = relationship(back_populates="area", order_by="Zone.name")


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("area_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    area: Mapped[Area] = relationship(back_populates="zones")


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (
        UniqueConstraint("area_id", "device_id"),
        Index("ix_devices_area_kind", "area_id", "kind", "id"),
        Index("ix_devices_area_via", "area_id", "via"),
        # The device list's order: a page deep into 100,000 devices walks this index
        # instead of sorting the whole area.
        Index("ix_devices_area_kind_device", "area_id", "kind", "device_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(48))
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(120), default="")
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default=DeviceStatus.PENDING.value)
    model: Mapped[str | None] = mapped_column(String(64))
    firmware: Mapped[str | None] = mapped_column(String(32))
    capabilities: Mapped[list[str]] = mapped_column(JSON, default=list)
    via: Mapped[str | None] = mapped_column(String(48))
    rated_w: Mapped[float | None] = mapped_column(Float)
    codec: Mapped[str] = mapped_column(String(16), default="native")
    online: Mapped[bool] = mapped_column(default=False)
    availability_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state_ts: Mapped[int | None] = mapped_column(BigInteger)
    # The password a device chose when it enrolled itself: its account gets it when the head
    # accepts the device, then it is forgotten.
    enrol_secret: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class DeviceEventRow(Base):
    """Camera motion/tampering, lamp faults and the like; heartbeats only touch ``last_seen``."""

    __tablename__ = "device_events"
    __table_args__ = (
        UniqueConstraint("device_pk", "type", "ts", name="uq_device_events_replay"),
        Index("ix_device_events_device_time", "device_pk", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(24))
    ts: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    display_name: Mapped[str] = mapped_column(String(120), default="")
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped by a password reset: tokens issued under an older generation stop working at once.
    token_gen: Mapped[int] = mapped_column(default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CommandStatus(StrEnum):
    """Lifecycle: queued -> sent -> confirmed | timed_out | expired | failed | superseded."""

    QUEUED = "queued"
    SENT = "sent"
    CONFIRMED = "confirmed"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"
    FAILED = "failed"
    # Not confirmed (lost in a broker crash, say), and a later command to the device was
    # confirmed, or a later order of the same action issued, before it could be sent again:
    # sending it then would undo the later one.
    SUPERSEDED = "superseded"


OPEN_COMMAND_STATUSES = (CommandStatus.QUEUED.value, CommandStatus.SENT.value, CommandStatus.TIMED_OUT.value)


class CommandRow(Base):
    """One command to one device; ``id`` travels on the wire and comes back in the state."""

    __tablename__ = "commands"
    __table_args__ = (
        Index("ix_commands_device_status", "device_pk", "status"),
        Index("ix_commands_status_expires", "status", "expires_at"),
        Index("ix_commands_area_created", "area_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(64), index=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    device_pk: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    device_id: Mapped[str] = mapped_column(String(48))
    action: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=CommandStatus.QUEUED.value)
    error: Mapped[str | None] = mapped_column(String(200))
    result_state: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    issued_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # manual (a person), schedule (a timetable step) or restore (desired state re-applied)
    source: Mapped[str] = mapped_column(String(16), default="manual", server_default="manual")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    confirm_by: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """Append-only record of who did what; the API offers no way to change or delete one."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_area_id", "area_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor: Mapped[str] = mapped_column(String(64))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(48))
    target: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[str] = mapped_column(String(400))
    ref: Mapped[str | None] = mapped_column(String(64))


class IdempotencyRecord(Base):
    """The stored answer to a request sent with an ``Idempotency-Key`` header."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(128))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column()
    response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuthSession(Base):
    """A refresh token or phone cookie session; deleting the row logs it out."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LightingTimetableRow(Base):
    """A lighting timetable for a zone or (zone_id NULL) a whole area; the source of truth for jobs."""

    __tablename__ = "lighting_timetables"
    __table_args__ = (Index("ix_lighting_timetables_area", "area_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    zone_id: Mapped[int | None] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    enabled: Mapped[bool] = mapped_column(default=True)
    weekdays: Mapped[int] = mapped_column(default=0b1111111)  # bit 0 = Monday
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    misfire: Mapped[str] = mapped_column(String(16), default="run_late")
    grace_s: Mapped[int] = mapped_column(default=300)
    steps: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    exceptions: Mapped[dict[str, list[dict[str, Any]]]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class ScheduleRun(Base):
    """One planned firing of a schedule and what became of it; the unique key forbids running twice."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_kind", "schedule_id", "planned_at", name="uq_schedule_runs_once"),
        Index("ix_schedule_runs_area", "area_id", "planned_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)
    schedule_kind: Mapped[str] = mapped_column(String(16))
    schedule_id: Mapped[int] = mapped_column()
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"))
    planned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ran_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(String(400), default="")


class SchedulerLease(Base):
    """Which hub process may run the scheduler; a standby takes over when the lease lapses."""

    __tablename__ = "scheduler_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
