"""Invite codes: the head hands one out, residents register themselves with it."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError

from hub.api.deps import AreaDep, Manager, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError, account_refused
from hub.api.invite_links import invite_link, qr_svg
from hub.api.notification_schemas import InviteCreate, InviteCreated, InvitePublic, RegisterCreate
from hub.api.schemas import Page, UserPublic
from hub.audit import record
from hub.auth.accounts import AccountError, create_user
from hub.models import Role, as_utc
from hub.notifications.models import AreaInvite

router = APIRouter(prefix="/api/v1", tags=["invites"])

# No 0/O or 1/I/L: codes are read aloud at area meetings and typed on phones.
_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LEN = 10  # 31^10 ≈ 8e14 codes; with the login rate limit, guessing is hopeless


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(_CODE_LEN))
    return f"{raw[:5]}-{raw[5:]}"


def _normalise(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _hash(code: str) -> str:
    return hashlib.sha256(_normalise(code).encode()).hexdigest()


def _status(inv: AreaInvite, now: datetime) -> str:
    if inv.revoked:
        return "revoked"
    if as_utc(inv.expires_at) <= now:
        return "expired"
    return "used_up" if inv.uses >= inv.max_uses else "active"


class InviteShare(BaseModel):
    link: str = Field(description="the hub's public address (or the page's) with the code")
    qr_svg: str = Field(description="a QR code of the link, an SVG document")


class InviteShared(InviteCreated):
    """A new invite with what to hand out: the code, its link and the link's QR code."""

    link: str
    qr_svg: str


class InviteShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=40, description="the invite's code, as it was shown")


def _share(request: Request, public_url: str, code: str) -> InviteShare:
    # Without a public address the link is the one this page was opened at: right on the
    # area's own network, and the hub cannot know a better one.
    link = invite_link(public_url or str(request.base_url), code)
    return InviteShare(link=link, qr_svg=qr_svg(link))


def _public(inv: AreaInvite, now: datetime) -> dict[str, Any]:
    return {
        "id": inv.id,
        "hint": inv.hint,
        "max_uses": inv.max_uses,
        "uses": inv.uses,
        "expires_at": inv.expires_at,
        "revoked": inv.revoked,
        "status": _status(inv, now),
        "created_at": inv.created_at,
    }


@router.post("/areas/{code}/invites", status_code=status.HTTP_201_CREATED)
def create_invite(
    body: InviteCreate,
    request: Request,
    area: AreaDep,
    user: Manager,
    session: SessionDep,
    runtime: RuntimeDep,
) -> InviteShared:
    """A new invite code for residents of the area, with its link and QR code; the code is shown
    only in this answer."""
    now = datetime.now(UTC)
    code = _new_code()
    inv = AreaInvite(
        area_id=area.id,
        code_hash=_hash(code),
        hint=code[:3],
        max_uses=body.max_uses,
        uses=0,
        expires_at=now + timedelta(hours=body.expires_in_hours),
        revoked=False,
        created_by=user.id,
        created_at=now,
    )
    session.add(inv)
    session.flush()
    params = {"max_uses": body.max_uses, "expires_in_hours": body.expires_in_hours}
    record(session, user, area.id, "invite.create", f"invite:{inv.id}", "created", params)
    session.commit()
    share = _share(request, runtime.settings.public_url, code)
    return InviteShared(code=code, link=share.link, qr_svg=share.qr_svg, **_public(inv, now))


@router.get("/areas/{code}/invites")
def list_invites(area: AreaDep, user: Manager, session: SessionDep, paging: PagingDep) -> Page[InvitePublic]:
    now = datetime.now(UTC)
    mine = AreaInvite.area_id == area.id
    total = session.scalar(select(func.count()).select_from(AreaInvite).where(mine)) or 0
    rows = session.scalars(
        select(AreaInvite)
        .where(mine)
        .order_by(AreaInvite.id.desc())
        .limit(paging.limit)
        .offset(paging.offset)
    )
    return Page(
        items=[InvitePublic(**_public(i, now)) for i in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post("/areas/{code}/invites/{invite_id}/share")
def share_invite(
    invite_id: int,
    body: InviteShareRequest,
    request: Request,
    area: AreaDep,
    user: Manager,
    session: SessionDep,
    runtime: RuntimeDep,
) -> InviteShare:
    """The link and QR code of an invite again, for the phone that keeps its code (the hub keeps
    only a hash of it, so the code must be sent and must match)."""
    inv = session.get(AreaInvite, invite_id)
    if inv is None or inv.area_id != area.id or inv.code_hash != _hash(body.code):
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "invite_not_found",
            f"no invite {invite_id} with this code in this area",
            invite_id=invite_id,
        )
    return _share(request, runtime.settings.public_url, body.code)


@router.delete("/areas/{code}/invites/{invite_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_invite(invite_id: int, area: AreaDep, user: Manager, session: SessionDep) -> None:
    """Stop a code from working; accounts made with it stay."""
    inv = session.get(AreaInvite, invite_id)
    if inv is None or inv.area_id != area.id:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "invite_not_found",
            f"no invite {invite_id} in this area",
            invite_id=invite_id,
        )
    inv.revoked = True
    record(session, user, area.id, "invite.revoke", f"invite:{inv.id}", "revoked")
    session.commit()


@router.post(
    "/auth/register",
    status_code=status.HTTP_201_CREATED,
    responses={
        400: {"description": "unknown invite code"},
        409: {"description": "username taken"},
        410: {"description": "invite code expired, used up or revoked"},
        429: {"description": "too many failed attempts"},
    },
)
def register(body: RegisterCreate, request: Request, runtime: RuntimeDep, session: SessionDep) -> UserPublic:
    """Create a resident account with an area's invite code; then log in as usual."""
    ip = request.client.host if request.client else "unknown"
    limiter = runtime.login_limiter
    wait = limiter.retry_after(body.username, ip)
    if wait is not None:
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "register_rate_limited",
            f"too many failed attempts; try again in {wait} s",
            headers={"Retry-After": str(wait)},
            wait=wait,
        )
    inv = session.scalar(select(AreaInvite).where(AreaInvite.code_hash == _hash(body.invite_code)))
    if inv is None:
        # Guessing codes counts like guessing passwords.
        limiter.failed(body.username, ip)
        raise ApiError(
            status.HTTP_400_BAD_REQUEST,
            "invite_unknown",
            "unknown invite code; ask the area head for a new one",
        )
    now = datetime.now(UTC)
    state = _status(inv, now)
    if state != "active":
        reason = {"revoked": "was revoked", "expired": "has expired", "used_up": "has been used up"}[state]
        raise ApiError(
            status.HTTP_410_GONE,
            f"invite_{state}",
            f"this invite code {reason}; ask the area head for a new one",
        )
    # Counting the use in the same statement that checks it: two residents racing for the
    # last place cannot both get it.
    claimed = cast(
        CursorResult[Any],
        session.execute(
            update(AreaInvite)
            .where(
                AreaInvite.id == inv.id,
                AreaInvite.uses < AreaInvite.max_uses,
                AreaInvite.revoked.is_(False),
                AreaInvite.expires_at > now,
            )
            .values(uses=AreaInvite.uses + 1)
            .execution_options(synchronize_session=False)
        ),
    )
    if claimed.rowcount != 1:
        session.rollback()
        raise ApiError(status.HTTP_410_GONE, "invite_used_up", "this invite code has been used up")
    try:
        user = create_user(
            session, body.username, body.password, Role.RESIDENT, inv.area_id, body.display_name or ""
        )
    except AccountError as exc:
        session.rollback()
        raise account_refused(exc, body.username) from None
    record(
        session, user, inv.area_id, "auth.register", f"user:{user.id}", "registered", ref=f"invite:{inv.id}"
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "user_exists",
            f"user {body.username!r} already exists",
            username=body.username,
        ) from None
    return UserPublic.model_validate(user)
