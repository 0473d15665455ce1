"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.api.errors import ApiError
from hub.api.origin import check_origin
from hub.auth.cache import AuthCache
from hub.auth.tokens import Claims, TokenError, TokenType
from hub.models import Area, Role, User, as_utc
from hub.runtime import HubRuntime

SESSION_COOKIE = "khu_session"

# Why these are ``async def``: FastAPI runs every plain ``def`` dependency in its thread
# pool, and each such hop cost about 1 ms of CPU on the project's machine. Dependencies
# that do no I/O (token decoding, role checks, paging) run on the event loop; the caller
# and the area come from the API's cache there, and only a miss goes to the database, in
# one thread-pool hop (``cached_or_read``). Nothing here may block the event loop.

T = TypeVar("T")


async def cached_or_read(request: Request, lookup: Callable[[Session | None], T | None]) -> T | None:
    """``lookup`` without a session answers from a cache only (None: not cached); on a miss it
    runs again in the thread pool with a session of its own, and its answer is final."""
    found = lookup(None)
    if found is None:
        found = await run_in_threadpool(_in_session, request.app.state.runtime, lookup)
    return found


def _in_session(runtime: HubRuntime, lookup: Callable[[Session | None], T | None]) -> T | None:
    with runtime.sessions() as session:
        return lookup(session)


async def get_runtime(request: Request) -> HubRuntime:
    runtime: HubRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[HubRuntime, Depends(get_runtime)]


_SESSIONS = "khu.sessions"


class CloseSessions:
    """ASGI middleware: closes the database sessions a request opened, once it is answered.

    A dependency with ``yield`` would do the same, but FastAPI wraps each one's exit in a
    shielded cancel scope, which cost as much as the rest of a cached device read.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        sessions: list[Session] = []
        scope[_SESSIONS] = sessions
        try:
            await self.app(scope, receive, send)
        finally:
            # Closing hands the connection back to the pool, which never waits.
            for session in sessions:
                session.close()


async def get_db(request: Request, runtime: RuntimeDep) -> Session:
    # Creating a Session does no I/O: it connects on its first query, in the endpoint's thread.
    session = runtime.sessions()
    request.scope[_SESSIONS].append(session)
    return session


SessionDep = Annotated[Session, Depends(get_db)]


def _unauthorized(code: str, detail: str) -> HTTPException:
    return ApiError(status.HTTP_401_UNAUTHORIZED, code, detail, headers={"WWW-Authenticate": "Bearer"})


class _Claims(OAuth2PasswordBearer):
    """The caller's verified token, from ``Authorization: Bearer`` (access token) or the
    phone's session cookie; also the API's security scheme in the OpenAPI document.

    One dependency rather than three (the bearer scheme, the runtime, the decoding): FastAPI
    spends tens of microseconds on each dependency of each request, more than the decoding.
    """

    async def __call__(self, request: Request) -> Claims:  # type: ignore[override]
        bearer = await super().__call__(request)
        raw = bearer or request.cookies.get(SESSION_COOKIE)
        if not raw:
            raise _unauthorized(
                "not_logged_in", "not logged in: send 'Authorization: Bearer <access token>' or log in"
            )
        runtime: HubRuntime = request.app.state.runtime
        try:
            claims: Claims = (
                runtime.tokens.decode(raw, TokenType.ACCESS)
                if bearer
                else runtime.tokens.decode(raw, TokenType.SESSION)
            )
        except TokenError as exc:
            raise _unauthorized("session_ended", str(exc)) from None
        if not bearer:
            check_origin(request, runtime.settings.public_url)  # the cookie may ride a forged request
        return claims


get_claims = _Claims(tokenUrl="/api/v1/auth/token", scheme_name="OAuth2PasswordBearer", auto_error=False)
ClaimsDep = Annotated[Claims, Depends(get_claims)]


def _caller(request: Request, claims: Claims, session: Session | None) -> User | None:
    """The caller's account, once per request; raises 401 when it may not act.

    With a session it reads what the cache lacks (call from a thread); without, it answers
    from the cache alone and returns None if something would have to be read. Both
    ``get_area`` and ``get_current_user`` need the caller; the second finds it on the request.
    """
    known: User | None = getattr(request.state, "khu_user", None)
    if known is not None:
        return known
    cache: AuthCache = request.app.state.runtime.auth_cache
    if claims.type is TokenType.SESSION:
        live = cache.auth_session(session, claims.session_id or "")
        if live is None and session is None:
            return None
        if live is None or as_utc(live.expires_at) < datetime.now(UTC):
            raise _unauthorized("session_ended", "session ended; log in again")
    user = cache.user(session, claims.user_id)
    if user is None and session is None:
        return None
    if user is None or not user.active:
        raise _unauthorized("account_disabled", "account disabled or removed")
    if claims.generation != user.token_gen:
        raise _unauthorized(
            "session_ended", "the password was changed since this token was issued; log in again"
        )
    request.state.khu_user = user
    return user


async def get_current_user(request: Request, claims: ClaimsDep) -> User:
    """The caller, from ``Authorization: Bearer`` (access token) or the phone's session cookie."""
    user = await cached_or_read(request, partial(_caller, request, claims))
    assert user is not None  # with a session it reads or raises
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[Request, Claims], Coroutine[Any, Any, User]]:
    allowed = {r.value for r in roles}

    # Not ``user: CurrentUser``: one dependency level less on every request.
    async def check(request: Request, claims: ClaimsDep) -> User:
        user = await get_current_user(request, claims)
        if user.role not in allowed:
            names = ", ".join(sorted(allowed))
            raise ApiError(
                status.HTTP_403_FORBIDDEN,
                "role_forbidden",
                f"only {names} may do this; you are {user.role}",
                role=user.role,
                allowed=sorted(allowed),
            )
        return user

    return check


Controller = Annotated[User, Depends(require_roles(Role.ADMIN, Role.HEAD, Role.DEPUTY))]
Manager = Annotated[User, Depends(require_roles(Role.ADMIN, Role.HEAD))]
Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]


def can_see_area(user: User, area_id: int) -> bool:
    return user.role == Role.ADMIN or user.area_id == area_id


def _area(code: str, request: Request, claims: Claims, session: Session | None) -> Area | None:
    """The area for the caller (as ``_caller``: None when, without a session, something is not cached)."""
    user = _caller(request, claims, session)
    cache: AuthCache = request.app.state.runtime.auth_cache
    area = cache.area(session, code)
    if user is None or (area is None and session is None):
        return None
    if area is None or not can_see_area(user, area.id):
        raise ApiError(status.HTTP_404_NOT_FOUND, "area_not_found", f"no area with code {code!r}", area=code)
    return area


async def get_area(code: str, request: Request, claims: ClaimsDep) -> Area:
    """The area in the path; 404 when it does not exist or is not the caller's.

    The caller is authenticated here first (401 before 404, as always). Both usually come
    from the cache, on the event loop; otherwise from the database in one thread-pool hop.
    """
    area = await cached_or_read(request, partial(_area, code, request, claims))
    assert area is not None  # with a session it reads or raises
    return area


AreaDep = Annotated[Area, Depends(get_area)]


class Paging:
    def __init__(self, limit: int = 50, offset: int = 0) -> None:
        self.limit = limit
        self.offset = offset


async def get_paging(
    limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Paging:
    # A function, not the class itself: FastAPI would run the class's __init__ in a thread.
    return Paging(limit, offset)


PagingDep = Annotated[Paging, Depends(get_paging)]
