"""Dependencies shared by the routers, as ``Annotated`` aliases."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.models import Area
from hub.runtime import HubRuntime


def get_runtime(request: Request) -> HubRuntime:
    runtime: HubRuntime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[HubRuntime, Depends(get_runtime)]


def get_db(runtime: RuntimeDep) -> Iterator[Session]:
    with runtime.sessions() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_db)]


class Paging:
    def __init__(
        self,
        limit: Annotated[int, Query(ge=1, le=500, description="page size")] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> None:
        self.limit = limit
        self.offset = offset


PagingDep = Annotated[Paging, Depends()]


def get_area(code: str, session: SessionDep) -> Area:
    """The area named in the path; 404 when it does not exist."""
    area = session.scalar(select(Area).where(Area.code == code))
    if area is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no area with code {code!r}")
    return area


AreaDep = Annotated[Area, Depends(get_area)]
