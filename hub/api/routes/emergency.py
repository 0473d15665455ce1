"""Emergency mode, in two deliberate steps: ask (get a confirmation token), then confirm."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from hub.api.deps import AreaDep, Controller, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schemas import UtcDateTime
from hub.auth.tokens import TokenError, TokenType
from hub.broadcasts.emergency import EmergencyError, active_emergency
from hub.live import EMERGENCY
from hub.models import Area, Device, DeviceStatus

router = APIRouter(prefix="/api/v1/areas/{code}/emergency", tags=["broadcasts"])
CONFIRM_TTL = timedelta(seconds=120)


class EmergencyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: Annotated[str, Field(min_length=1, max_length=200)] = "KHẨN CẤP"
    text: Annotated[str, Field(min_length=1, max_length=2000)] = Field(
        description="read out on every speaker"
    )
    confirm_token: str | None = Field(None, description="from the first call; send it back to confirm")


class EmergencyPublic(BaseModel):
    active: bool
    announcement_id: str | None = None
    started_at: UtcDateTime | None = None
    reason: str | None = None


class EmergencyConfirm(BaseModel):
    confirm_token: str
    expires_in: int
    summary: str


def _fingerprint(area: Area, body: EmergencyCreate) -> str:
    return hashlib.sha256(f"{area.id}\n{body.title}\n{body.text}".encode()).hexdigest()[:32]


@router.get("")
def get_emergency(area: AreaDep, user: Controller, session: SessionDep) -> EmergencyPublic:
    state = active_emergency(session, area.id)
    if state is None:
        return EmergencyPublic(active=False)
    return EmergencyPublic(
        active=True, announcement_id=state.announcement_id, started_at=state.started_at, reason=state.reason
    )


@router.post(
    "",
    response_model=EmergencyPublic,
    responses={202: {"model": EmergencyConfirm}, 409: {"description": "already on"}},
)
def start_emergency(
    body: EmergencyCreate, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> EmergencyPublic | JSONResponse:
    """First call: 202 with a token and what will happen. Second call with the token: emergency on."""
    if active_emergency(session, area.id) is not None:
        raise ApiError(
            status.HTTP_409_CONFLICT, "emergency_active", "emergency mode is already on in this area"
        )
    print_ = _fingerprint(area, body)
    if body.confirm_token is None:
        counts = dict(
            session.execute(
                select(Device.kind, func.count())
                .where(Device.area_id == area.id, Device.status == DeviceStatus.ACTIVE.value)
                .group_by(Device.kind)
            ).all()
        )
        token = runtime.tokens.issue(user.id, TokenType.CONFIRM, CONFIRM_TTL, print_)
        summary = (
            f"Every one of {counts.get('speaker', 0)} speakers plays the alert at once, "
            f"{counts.get('light', 0)} lights go to 100 %, every resident is notified. "
            "Send the same request again with confirm_token to proceed."
        )
        confirm = EmergencyConfirm(
            confirm_token=token, expires_in=int(CONFIRM_TTL.total_seconds()), summary=summary
        )
        return JSONResponse(confirm.model_dump(), status_code=status.HTTP_202_ACCEPTED)
    try:
        claims = runtime.tokens.decode(body.confirm_token, TokenType.CONFIRM)
    except TokenError as exc:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "confirmation_failed", f"confirmation failed: {exc}"
        ) from None
    if claims.user_id != user.id or claims.session_id != print_:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "confirmation_mismatch",
            "the confirmation token belongs to another request; ask again",
        )
    session.close()
    try:
        state = runtime.emergency.start(area, user, body.title, body.text)
    except EmergencyError as exc:
        raise ApiError(status.HTTP_409_CONFLICT, "emergency_conflict", str(exc)) from None
    public = EmergencyPublic(
        active=True, announcement_id=state.announcement_id, started_at=state.started_at, reason=state.reason
    )
    # Every other phone of the area shows the banner now, not at its next look.
    runtime.live.publish(area.code, EMERGENCY, public.model_dump(mode="json"))
    return public


@router.post("/end")
def end_emergency(
    area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> EmergencyPublic:
    """Back to normal: alert stopped, lights to their desired state, schedules running again."""
    session.close()
    try:
        runtime.emergency.end(area, user)
    except EmergencyError as exc:
        raise ApiError(status.HTTP_409_CONFLICT, "emergency_conflict", str(exc)) from None
    public = EmergencyPublic(active=False)
    runtime.live.publish(area.code, EMERGENCY, public.model_dump(mode="json"))
    return public
