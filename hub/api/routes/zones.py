"""Zones of an area (streets and alleys for lights, speaker zones): read by all, managed by the head."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi import APIRouter, status
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.api.deps import AreaDep, CurrentUser, Manager, PagingDep, SessionDep
from hub.api.errors import ApiError
from hub.api.management_schemas import ZoneCreate, ZoneUpdate
from hub.api.schemas import Page, ZonePublic
from hub.audit import record
from hub.models import Area, Zone
from hub.registry.areas import ZoneExists, create_zone, delete_zone, rename_zone

router = APIRouter(prefix="/api/v1/areas/{code}/zones", tags=["zones"])

_TAKEN: dict[int | str, dict[str, Any]] = {409: {"description": "the area already has a zone with that name"}}


def _zone(session: SessionDep, area: Area, zone_id: int) -> Zone:
    zone = session.scalar(select(Zone).where(Zone.id == zone_id, Zone.area_id == area.id))
    if zone is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "zone_not_found",
            f"no zone {zone_id} in area {area.code!r}",
            zone_id=zone_id,
        )
    return zone


@contextmanager
def _name_taken(session: Session, area: Area, name: str) -> Iterator[None]:
    """Turn a taken zone name into 409, whether the check or (in a race) the unique index saw it."""
    try:
        yield
    except ZoneExists as exc:
        raise ApiError(status.HTTP_409_CONFLICT, "zone_exists", str(exc), name=name) from None
    except IntegrityError:
        session.rollback()
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "zone_exists",
            f"area {area.code!r} already has a zone named {name!r}",
            name=name,
        ) from None


@router.get("")
def list_zones(area: AreaDep, user: CurrentUser, session: SessionDep, paging: PagingDep) -> Page[ZonePublic]:
    """By name; any user of the area (residents pick zones for their notifications)."""
    query = select(Zone).where(Zone.area_id == area.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Zone.name, Zone.id).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[ZonePublic.model_validate(z) for z in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.post("", status_code=status.HTTP_201_CREATED, responses=_TAKEN)
def create(area: AreaDep, body: ZoneCreate, user: Manager, session: SessionDep) -> ZonePublic:
    with _name_taken(session, area, body.name):
        zone = create_zone(session, area, body.name)
        record(session, user, area.id, "zone.create", f"zone:{zone.id}", "created", {"name": zone.name})
        session.commit()
    return ZonePublic.model_validate(zone)


@router.patch("/{zone_id}", responses=_TAKEN)
def rename(area: AreaDep, zone_id: int, body: ZoneUpdate, user: Manager, session: SessionDep) -> ZonePublic:
    zone = _zone(session, area, zone_id)
    params = {"from": zone.name, "to": body.name}
    with _name_taken(session, area, body.name):
        rename_zone(session, zone, body.name)
        record(session, user, area.id, "zone.rename", f"zone:{zone.id}", "renamed", params)
        session.commit()
    return ZonePublic.model_validate(zone)


@router.delete("/{zone_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete(area: AreaDep, zone_id: int, user: Manager, session: SessionDep) -> None:
    """Delete a zone; its devices stay in the area, without a zone."""
    zone = _zone(session, area, zone_id)
    name = zone.name
    moved = delete_zone(session, zone)
    result = f"deleted; {moved} device(s) left without a zone"
    record(session, user, area.id, "zone.delete", f"zone:{zone_id}", result, {"name": name})
    session.commit()
