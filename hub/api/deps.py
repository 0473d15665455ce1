"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Area, AuthSession, Role, User, as_utc
from hub.runtime import HubRuntime
from hub.security import TokenError, TokenType

SESSION_COOKIE = "khu_session"
_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


def get_runtime(request: Request) -> HubRuntime:
    runtime: HubRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[HubRuntime, Depends(get_runtime)]


def get_db(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"})


def get_current_user(
    request: Request,
    runtime: RuntimeDep,
    session: SessionDep,
    bearer: Annotated[str | None, Depends(_bearer)],
) -> User:
    """The caller, from ``Authorization: Bearer`` (access token) or the phone's session cookie."""
    raw = bearer or request.cookies.get(SESSION_COOKIE)
    if not raw:
        raise _unauthorized("not logged in: send 'Authorization: Bearer <access token>' or log in")
    try:
        claims = (
            runtime.tokens.decode(raw, TokenType.ACCESS)
            if bearer
            else runtime.tokens.decode(raw, TokenType.SESSION)
        )
    except TokenError as exc:
        raise _unauthorized(str(exc)) from None
    if claims.type is TokenType.SESSION:
        live = session.get(AuthSession, claims.session_id or "")
        if live is None or as_utc(live.expires_at) < datetime.now(UTC):
            raise _unauthorized("session ended; log in again")
    user = session.get(User, claims.user_id)
    if user is None or not user.active:
        raise _unauthorized("account disabled or removed")
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: Role) -> Callable[[User], User]:
    allowed = {r.value for r in roles}

    def check(user: CurrentUser) -> User:
        if user.role not in allowed:
            names = ", ".join(sorted(allowed))
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"only {names} may do this; you are {user.role}")
        return user

    return check


Controller = Annotated[User, Depends(require_roles(Role.ADMIN, Role.HEAD, Role.DEPUTY))]
Manager = Annotated[User, Depends(require_roles(Role.ADMIN, Role.HEAD))]
Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]


def can_see_area(user: User, area_id: int) -> bool:
    return user.role == Role.ADMIN or user.area_id == area_id


def get_area(code: str, session: SessionDep, user: CurrentUser) -> Area:
    """The area in the path; 404 when it does not exist or is not the caller's."""
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None or not can_see_area(user, area.id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no area with code {code!r}")
    return area


AreaDep = Annotated[Area, Depends(get_area)]


class Paging:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]
