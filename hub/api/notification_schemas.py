"""Request and response models of notifications, push subscriptions, quiet hours, channels, invites."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from hub.api.management_schemas import Name, Password, Username
from hub.api.schemas import ORMModel, Page, UtcDateTime
from hub.notifications.models import Audience

HhMm = Annotated[str, Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", description="local time, HH:MM")]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="IANA name, e.g. Asia/Ho_Chi_Minh")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotificationPublic(ORMModel):
    id: int
    kind: str
    audience: str
    title: str
    body: str
    priority: str
    audio_url: str | None
    ref: str | None
    created_at: UtcDateTime


class DeliveryProblem(ORMModel):
    """A delivery that failed, or failed and waits for its next attempt."""

    id: int
    channel: str
    target: str
    status: str
    attempts: int
    next_attempt_at: UtcDateTime | None
    last_error: str | None
    updated_at: UtcDateTime


class DeliveryReport(BaseModel):
    notification_id: int
    total: int
    counts: dict[str, int] = Field(description="deliveries by status")
    by_channel: dict[str, dict[str, int]]
    problems: list[DeliveryProblem] = Field(description="failed or retrying deliveries, newest change first")


class PushKeys(BaseModel):
    p256dh: Annotated[str, Field(min_length=80, max_length=120)]
    auth: Annotated[str, Field(min_length=16, max_length=32)]


class PushSubscriptionCreate(BaseModel):
    """What ``PushSubscription.toJSON()`` gives in the browser."""

    endpoint: Annotated[str, Field(min_length=10, max_length=1000)]
    expirationTime: int | None = None  # noqa: N815  (the browser's own name)
    keys: PushKeys


class PushUnsubscribe(_Request):
    endpoint: Annotated[str, Field(min_length=10, max_length=1000)]


class PushSubscriptionPublic(BaseModel):
    id: int
    origin: str = Field(description="the push service; the full endpoint is the browser's secret")
    created_at: UtcDateTime
    last_success_at: UtcDateTime | None


class VapidKeyPublic(BaseModel):
    public_key: str = Field(description="applicationServerKey for pushManager.subscribe(), base64url")


class QuietHoursUpdate(_Request):
    start: HhMm
    end: HhMm
    timezone: TimeZone | None = Field(None, description="the area's time zone when left out")


class QuietHoursPublic(BaseModel):
    enabled: bool
    start: str | None = None
    end: str | None = None
    timezone: str
    active_now: bool = False
    ends_at: UtcDateTime | None = Field(None, description="when the current quiet period ends")


class QuietRange(_Request):
    start: HhMm
    end: HhMm


class ChannelItem(_Request):
    """An Apprise channel; send ``id`` without ``url`` to keep a channel's stored URL."""

    id: int | None = None
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=2000)] | None = None
    label: Name
    audience: Audience = Audience.RESIDENTS
    enabled: bool = True
    quiet_hours: QuietRange | None = None

    @model_validator(mode="after")
    def _new_needs_url(self) -> ChannelItem:
        if self.id is None and self.url is None:
            raise ValueError("a new channel needs its url")
        return self


class ChannelsUpdate(_Request):
    channels: Annotated[list[ChannelItem], Field(max_length=20)]


class ChannelPublic(BaseModel):
    id: int
    label: str
    audience: str
    enabled: bool
    url_masked: str = Field(description="the URL is a secret: only its kind and a glimpse are shown")
    quiet_hours: QuietRange | None
    updated_at: UtcDateTime


class InviteCreate(_Request):
    expires_in_hours: Annotated[int, Field(ge=1, le=24 * 30)] = 72
    max_uses: Annotated[int, Field(ge=1, le=1000)] = 50


class InvitePublic(BaseModel):
    id: int
    hint: str = Field(description="the first characters of the code")
    max_uses: int
    uses: int
    expires_at: UtcDateTime
    revoked: bool
    status: str = Field(description="active, expired, used_up or revoked")
    created_at: UtcDateTime


class InviteCreated(InvitePublic):
    code: str = Field(description="shown once; give it to the residents")


class RegisterCreate(_Request):
    invite_code: Annotated[str, Field(min_length=4, max_length=40)]
    username: Username
    password: Password
    display_name: Name | None = None


class OutagePublic(BaseModel):
    id: int
    started_at: UtcDateTime
    ended_at: UtcDateTime | None
    duration_s: float = Field(description="so far, while the outage goes on")
    ongoing: bool
    alerted: bool


class IncidentPublic(BaseModel):
    """Outages of one area that began together; ``kinds`` etc. count what was dark when told."""

    id: int
    started_at: UtcDateTime
    ended_at: UtcDateTime | None
    duration_s: float = Field(description="so far, while the incident goes on")
    ongoing: bool
    alerted: bool
    cameras: int = Field(description="cameras with an outage in it")
    kinds: dict[str, int] = Field(description="devices dark when the head was told, by kind")
    gateways: list[str]
    zones: list[str]


class IncidentDevice(BaseModel):
    """One camera of an incident: its first outage's start, its last one's end."""

    device_id: str
    name: str
    kind: str
    zone_id: int | None
    started_at: UtcDateTime
    ended_at: UtcDateTime | None
    ongoing: bool
    outages: int = Field(description="more than one when it flapped")


class IncidentDetail(IncidentPublic):
    devices: Page[IncidentDevice] = Field(description="by device id; a power cut has thousands")
