"""Areas: the commune admin creates and edits them; everyone reads their own."""

from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from hub.api.deps import Admin, AreaDep, CurrentUser, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.management_schemas import AreaCreate, AreaUpdate
from hub.api.schemas import AreaPublic, AreaSummary, DeviceCounts, Page
from hub.audit import record
from hub.models import Area, Device, DeviceStatus, Role
from hub.registry.areas import AreaError, AreaExists, create_area, update_area

router = APIRouter(prefix="/api/v1/areas", tags=["areas"])


@router.get("")
def list_areas(session: SessionDep, user: CurrentUser, paging: PagingDep) -> Page[AreaPublic]:
    """Every area for the commune admin; one's own area for everyone else."""
    query = select(Area)
    if user.role != Role.ADMIN:
        query = query.where(Area.id == user.area_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.options(selectinload(Area.zones)).order_by(Area.code).limit(paging.limit).offset(paging.offset)
    ).all()
    return Page(
        items=[AreaPublic.model_validate(a) for a in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{code}")
def get_area(area: AreaDep, session: SessionDep) -> AreaSummary:
    """One area with its zones and device counts by kind."""
    counts: dict[str, DeviceCounts] = {}
    rows = session.execute(
        select(Device.kind, Device.status, Device.online, func.count())
        .where(Device.area_id == area.id)
        .group_by(Device.kind, Device.status, Device.online)
    ).all()
    for kind, dev_status, online, n in rows:
        c = counts.setdefault(kind, DeviceCounts())
        if dev_status == DeviceStatus.PENDING:
            c.pending += n
        elif dev_status == DeviceStatus.ACTIVE:
            c.total += n
            c.online += n if online else 0
    return AreaSummary(**_public(session, area).model_dump(), devices=counts)


def _public(session: Session, area: Area) -> AreaPublic:
    # ``area`` may be the shared, detached row the API cached: its zones are read here.
    fresh = session.scalars(select(Area).where(Area.id == area.id).options(selectinload(Area.zones))).one()
    return AreaPublic.model_validate(fresh)


def _refused(exc: AreaError) -> ApiError:
    if isinstance(exc, AreaExists):
        return ApiError(status.HTTP_409_CONFLICT, "area_exists", str(exc))
    return ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "area_invalid", str(exc))


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {"description": "code taken"}})
def create(body: AreaCreate, user: Admin, runtime: RuntimeDep, session: SessionDep) -> AreaPublic:
    """A new area (commune admin); its heads are created next, under /users."""
    tz = body.timezone or runtime.settings.default_timezone
    try:
        area = create_area(session, body.code, body.name, body.latitude, body.longitude, tz)
        params = body.model_dump(exclude={"code"}) | {"timezone": tz}
        record(session, user, area.id, "area.create", f"area:{area.code}", "created", params)
        session.commit()
    except AreaError as exc:
        raise _refused(exc) from None
    except IntegrityError:
        # Two admins raced for the same code; the unique index decided.
        session.rollback()
        raise _refused(AreaExists(f"area {body.code!r} already exists")) from None
    return AreaPublic(
        code=area.code,
        name=area.name,
        latitude=area.latitude,
        longitude=area.longitude,
        timezone=area.timezone,
        tts_voice=area.tts_voice,
        local_changes=area.local_changes,
        zones=[],
    )


@router.patch("/{code}")
def update(
    area: AreaDep, body: AreaUpdate, user: Admin, runtime: RuntimeDep, session: SessionDep
) -> AreaPublic:
    """Rename, move, change the time zone, voice or local-change rule of an area (commune admin)."""
    # Changed in this session: ``area`` itself is the API's shared read-only copy.
    area = session.get_one(Area, area.id)
    try:
        changed = update_area(
            area,
            body.name,
            body.latitude,
            body.longitude,
            body.timezone,
            body.tts_voice,
            body.local_changes,
        )
    except AreaError as exc:
        raise _refused(exc) from None
    record(
        session,
        user,
        area.id,
        "area.update",
        f"area:{area.code}",
        "updated" if changed else "unchanged",
        changed,
    )
    session.commit()
    if changed.keys() & {"latitude", "longitude", "timezone"}:
        # Timetables run on the area's clock and sun times: let the scheduler re-plan them.
        runtime.schedules.sync()
    return _public(session, area)
