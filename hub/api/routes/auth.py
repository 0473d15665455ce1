"""Logging in: OAuth2 password flow with refresh tokens, and a cookie session for the phone page."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from hub.accounts import DUMMY_HASH, verify_password
from hub.api.deps import SESSION_COOKIE, CurrentUser, RuntimeDep, SessionDep
from hub.api.schemas import UserPublic
from hub.models import AuthSession, User
from hub.runtime import HubRuntime
from hub.security import TokenError, TokenType

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

_BAD_LOGIN = "incorrect username or password"


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
    return request.client.host if request.client else "unknown"


def _authenticate(runtime: HubRuntime, session: Session, username: str, password: str, ip: str) -> User:
    """Same answer and about the same time whether or not the user exists."""
    wait = runtime.login_limiter.retry_after(username, ip)
    if wait is not None:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins; try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        runtime.login_limiter.failed(username, ip)
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _BAD_LOGIN, headers={"WWW-Authenticate": "Bearer"})
    return user


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
        access_token=runtime.tokens.issue(user.id, TokenType.ACCESS, access_ttl),
        expires_in=int(access_ttl.total_seconds()),
        refresh_token=runtime.tokens.issue(user.id, TokenType.REFRESH, refresh_ttl, sid),
    )


@router.post("/token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
) -> TokenPublic:
    """OAuth2 password flow: a short-lived access token and a refresh token."""
    user = _authenticate(runtime, session, form.username, form.password, _client_ip(request))
    return _token_pair(runtime, session, user)


@router.post("/refresh")
def refresh(body: RefreshCreate, runtime: RuntimeDep, session: SessionDep) -> TokenPublic:
    """Trade a refresh token for a new pair; the old refresh token stops working."""
    try:
        claims = runtime.tokens.decode(body.refresh_token, TokenType.REFRESH)
    except TokenError as exc:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(exc)) from None
    live = session.get(AuthSession, claims.session_id or "")
    user = session.get(User, claims.user_id)
    if live is None or user is None or not user.active:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "refresh token already used or revoked; log in again"
        )
    session.delete(live)
    return _token_pair(runtime, session, user)


@router.post("/login")
def login(
    body: LoginCreate, request: Request, response: Response, runtime: RuntimeDep, session: SessionDep
) -> UserPublic:
    """Phone page login: sets an httpOnly, SameSite=Strict session cookie."""
    user = _authenticate(runtime, session, body.username, body.password, _client_ip(request))
    ttl = timedelta(hours=runtime.settings.session_hours)
    sid = _new_session(session, user, TokenType.SESSION, ttl)
    session.commit()
    response.set_cookie(
        SESSION_COOKIE,
        runtime.tokens.issue(user.id, TokenType.SESSION, ttl, sid),
        max_age=int(ttl.total_seconds()),
        httponly=True,
        secure=runtime.settings.cookie_secure,
        samesite="strict",
        path="/",
    )
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
