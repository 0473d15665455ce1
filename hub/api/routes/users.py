"""Accounts: the commune admin manages everyone, an area head the deputies and residents of their area."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.api.deps import Manager, PagingDep, SessionDep
from hub.api.errors import ApiError, account_refused
from hub.api.management_schemas import UserCreate, UserUpdate
from hub.api.schemas import Page, UserPublic
from hub.audit import record
from hub.auth.accounts import AccountError, create_user, end_sessions, reset_password
from hub.models import Area, Role, User

router = APIRouter(prefix="/api/v1/users", tags=["users"])

# What a head may create and change; heads themselves are the commune admin's business.
_HEAD_MANAGES = (Role.DEPUTY.value, Role.RESIDENT.value)


def _area(session: Session, caller: User, code: str) -> Area:
    """The area named in a request; 404 when missing or not the caller's (like ``deps.get_area``)."""
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None or (caller.role != Role.ADMIN and area.id != caller.area_id):
        raise ApiError(status.HTTP_404_NOT_FOUND, "area_not_found", f"no area with code {code!r}", area=code)
    return area


def _visible_user(session: Session, caller: User, user_id: int) -> User:
    """A user the caller may see: anyone for the admin, the people of their area for a head."""
    user = session.get(User, user_id)
    if user is None or (caller.role != Role.ADMIN and user.area_id != caller.area_id):
        raise ApiError(
            status.HTTP_404_NOT_FOUND, "user_not_found", f"no user with id {user_id}", user_id=user_id
        )
    return user


def _commit(session: Session, username: str) -> None:
    try:
        session.commit()
    except IntegrityError:
        # Two requests raced for the same username; the unique index decided.
        session.rollback()
        raise ApiError(
            status.HTTP_409_CONFLICT, "user_exists", f"user {username!r} already exists", username=username
        ) from None


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "username taken"}})
def create(body: UserCreate, caller: Manager, session: SessionDep) -> UserPublic:
    """Admin: any account; head: deputies and residents of their own area."""
    area: Area | None = None
    if caller.role == Role.ADMIN:
        if body.role is not Role.ADMIN:
            if body.area_code is None:
                raise ApiError(
                    status.HTTP_422_UNPROCESSABLE_CONTENT,
                    "area_code_required",
                    f"area_code is required for a {body.role} account",
                    role=body.role.value,
                )
            area = _area(session, caller, body.area_code)
    else:
        area = _area(session, caller, body.area_code) if body.area_code else session.get(Area, caller.area_id)
        if body.role.value not in _HEAD_MANAGES:
            raise ApiError(
                status.HTTP_403_FORBIDDEN,
                "head_creates_only",
                f"a head may create only deputy or resident accounts, not {body.role}; ask the commune admin",
                role=body.role.value,
            )
    area_id = area.id if area else None
    try:
        user = create_user(session, body.username, body.password, body.role, area_id, body.display_name or "")
    except AccountError as exc:
        raise account_refused(exc, body.username) from None
    params: dict[str, Any] = {"role": body.role.value, "area": area.code if area else None}
    record(session, caller, area_id, "user.create", f"user:{user.username}", "created", params)
    _commit(session, body.username)
    return UserPublic.model_validate(user)


@router.get("")
def list_users(
    caller: Manager,
    session: SessionDep,
    paging: PagingDep,
    area: Annotated[str | None, Query(max_length=48, description="area code")] = None,
    role: Role | None = None,
    active: bool | None = None,
) -> Page[UserPublic]:
    """Admin: every account (filter by area); head: the accounts of their own area."""
    query = select(User)
    if area is not None:
        query = query.where(User.area_id == _area(session, caller, area).id)
    elif caller.role != Role.ADMIN:
        query = query.where(User.area_id == caller.area_id)
    if role is not None:
        query = query.where(User.role == role.value)
    if active is not None:
        query = query.where(User.active == active)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(User.username).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[UserPublic.model_validate(u) for u in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{user_id}")
def get_user(user_id: int, caller: Manager, session: SessionDep) -> UserPublic:
    return UserPublic.model_validate(_visible_user(session, caller, user_id))


@router.patch("/{user_id}")
def update(user_id: int, body: UserUpdate, caller: Manager, session: SessionDep) -> UserPublic:
    """Rename, deactivate or reactivate an account, or reset its password (ends its sessions)."""
    user = _visible_user(session, caller, user_id)
    if caller.role != Role.ADMIN and user.role not in _HEAD_MANAGES:
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            "head_changes_only",
            f"a head may change only deputy and resident accounts; {user.username!r} is {user.role}",
            username=user.username,
            role=user.role,
        )
    if body.active is False and user.id == caller.id:
        raise ApiError(
            status.HTTP_403_FORBIDDEN,
            "cannot_deactivate_self",
            "you cannot deactivate your own account; ask another admin",
        )
    changed: dict[str, Any] = {}
    if body.display_name is not None and body.display_name != user.display_name:
        user.display_name = changed["display_name"] = body.display_name
    if body.active is not None and body.active != user.active:
        user.active = changed["active"] = body.active
        if not body.active:
            end_sessions(session, user.id)
    if body.password is not None:
        try:
            reset_password(session, user, body.password)
        except AccountError as exc:
            raise account_refused(exc, user.username) from None
        changed["password_reset"] = True  # never the password itself
    result = "updated" if changed else "unchanged"
    record(session, caller, user.area_id, "user.update", f"user:{user.username}", result, changed)
    session.commit()
    return UserPublic.model_validate(user)
