"""Logging in: OAuth2 password flow with refresh tokens, and a cookie session for the phone page."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.api.deps import SESSION_COOKIE, CurrentUser, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.schemas import UserPublic
from hub.auth.accounts import DUMMY_HASH, verify_password
from hub.auth.tokens import TokenError, TokenType
from hub.models import AuthSession, User
from hub.runtime import HubRuntime

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_BAD_LOGIN = "incorrect username or password"
DEVICE_COOKIE = "khu_device"
_DEVICE_COOKIE_PATH = "/api/v1/auth"


class TokenPublic(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class RefreshCreate(BaseModel):
    refresh_token: Annotated[str, Field(min_length=10, max_length=2000)]


class LoginCreate(BaseModel):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=256)]


def _client_ip(request: Request) -> str:
    # The connection's address; a trusted proxy's X-Forwarded-For was applied before (app.py).
    return request.client.host if request.client else "unknown"


def _known_device(runtime: HubRuntime, request: Request, user: User | None) -> str | None:
    """The id of the device cookie the request carries, if it is valid and for this user."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw or user is None:
        return None
    try:
        claims = runtime.tokens.decode(raw, TokenType.DEVICE)
    except TokenError:
        return None
    return claims.session_id if claims.user_id == user.id else None


def _remember_device(runtime: HubRuntime, response: Response, user: User, device: str | None) -> None:
    """After a good login: a signed cookie saying this device knew the user's password."""
    ttl = timedelta(days=runtime.settings.device_cookie_days)
    response.set_cookie(
        DEVICE_COOKIE,
        runtime.tokens.issue(user.id, TokenType.DEVICE, ttl, device or secrets.token_urlsafe(16)),
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=runtime.settings.cookie_secure,
        samesite="strict",
        path=_DEVICE_COOKIE_PATH,
    )


def _authenticate(
    runtime: HubRuntime, session: Session, request: Request, username: str, password: str
) -> tuple[User, str | None]:
    """Same answer and about the same time whether or not the user exists.

    Failures count against the username and the address, or, from a device that logged in to
    this account before, against that device only (``hub.auth.login_limiter``). Returns the user and
    that device's id, if any.
    """
    ip = _client_ip(request)
    user = session.scalar(select(User).where(User.username == username))
    device = _known_device(runtime, request, user)
    wait = runtime.login_limiter.retry_after(username, ip, device)
    if wait is not None:
        raise ApiError(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "login_rate_limited",
            f"too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
            wait=wait,
        )
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        runtime.login_limiter.failed(username, ip, device)
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED, "login_failed", _BAD_LOGIN, headers={"WWW-Authenticate": "Bearer"}
        )
    return user, device


def _new_session(session: Session, user: User, kind: TokenType, ttl: timedelta) -> str:
    sid = secrets.token_urlsafe(24)
    session.add(AuthSession(id=sid, user_id=user.id, kind=kind.value, expires_at=datetime.now(UTC) + ttl))
    return sid


def _token_pair(runtime: HubRuntime, session: Session, user: User) -> TokenPublic:
    settings = runtime.settings
    access_ttl = timedelta(minutes=settings.access_token_minutes)
    refresh_ttl = timedelta(days=settings.refresh_token_days)
    sid = _new_session(session, user, TokenType.REFRESH, refresh_ttl)
    session.commit()
    return TokenPublic(
        access_token=runtime.tokens.issue(user.id, TokenType.ACCESS, access_ttl, generation=user.token_gen),
        expires_in=int(access_ttl.total_seconds()),
        refresh_token=runtime.tokens.issue(user.id, TokenType.REFRESH, refresh_ttl, sid),
    )


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    response: Response,
    runtime: RuntimeDep,
    session: SessionDep,
) -> TokenPublic:
    """OAuth2 password flow: a short-lived access token and a refresh token (and a device cookie)."""
    user, device = _authenticate(runtime, session, request, form.username, form.password)
    _remember_device(runtime, response, user, device)
    return _token_pair(runtime, session, user)


@router.post("/refresh")
def refresh(body: RefreshCreate, runtime: RuntimeDep, session: SessionDep) -> TokenPublic:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    try:
        claims = runtime.tokens.decode(body.refresh_token, TokenType.REFRESH)
    except TokenError as exc:
        raise ApiError(status.HTTP_401_UNAUTHORIZED, "refresh_invalid", str(exc)) from None
    live = session.get(AuthSession, claims.session_id or "")
    user = session.get(User, claims.user_id)
    if live is None or user is None or not user.active:
        raise ApiError(
            status.HTTP_401_UNAUTHORIZED,
            "refresh_invalid",
            "refresh token already used or revoked; log in again",
        )
    session.delete(live)
    return _token_pair(runtime, session, user)


@router.post("/login")
def login(
    body: LoginCreate, request: Request, response: Response, runtime: RuntimeDep, session: SessionDep
) -> UserPublic:
    """Phone page login: sets an httpOnly, SameSite=Strict session cookie (and a device cookie)."""
    user, device = _authenticate(runtime, session, request, body.username, body.password)
    ttl = timedelta(hours=runtime.settings.session_hours)
    sid = _new_session(session, user, TokenType.SESSION, ttl)
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        runtime.tokens.issue(user.id, TokenType.SESSION, ttl, sid, generation=user.token_gen),
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=runtime.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    _remember_device(runtime, response, user, device)
    return UserPublic.model_validate(user)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, runtime: RuntimeDep, session: SessionDep) -> None:
    """End the phone's cookie session."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        try:
            claims = runtime.tokens.decode(cookie, TokenType.SESSION)
            session.execute(delete(AuthSession).where(AuthSession.id == claims.session_id))
            session.commit()
        except TokenError:
            pass
    response.delete_cookie(SESSION_COOKIE, path="/")


@router.get("/me")
def me(user: CurrentUser) -> UserPublic:
    return UserPublic.model_validate(user)
