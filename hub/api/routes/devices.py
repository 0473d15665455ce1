"""Devices of an area with their live state and event history; adding, accepting, naming, retiring."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from devices.mqtt_client import Credentials
from devices.payloads import Kind
from hub.api.deps import AreaDep, Controller, Manager, PagingDep, RuntimeDep, SessionDep, cached_or_read
from hub.api.device_views import DeviceViews
from hub.api.errors import ApiError
from hub.api.management_schemas import DeviceAccept, DeviceCreate, DeviceUpdate
from hub.api.schemas import DeviceEventPublic, DevicePublic, DeviceWithAccountPublic, MqttAccountPublic, Page
from hub.audit import record
from hub.live import DEVICE
from hub.models import Area, Device, DeviceEventRow, DeviceStatus, User, Zone
from hub.registry.areas import DeviceStatusError, change_status
from hub.runtime import HubRuntime

router = APIRouter(prefix="/api/v1/areas/{code}/devices", tags=["devices"])


@router.get("")
def list_devices(
    area: AreaDep,
    session: SessionDep,
    user: Controller,
    paging: PagingDep,
    kind: Kind | None = None,
    device_status: Annotated[DeviceStatus | None, Query(alias="status")] = None,
    zone_id: int | None = None,
    online: bool | None = None,
) -> Page[DevicePublic]:
    query = select(Device).where(Device.area_id == area.id)
    if kind is not None:
        query = query.where(Device.kind == kind.value)
    if device_status is not None:
        query = query.where(Device.status == device_status.value)
    if zone_id is not None:
        query = query.where(Device.zone_id == zone_id)
    if online is not None:
        query = query.where(Device.online == online)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    # The page's ids first, from the (area, kind, device) index alone, then only their rows:
    # skipping deep into a large area then reads index entries, not whole devices.
    ids = list(
        session.scalars(
            query.with_only_columns(Device.id)
            .order_by(Device.kind, Device.device_id)
            .limit(paging.limit)
            .offset(paging.offset)
        )
    )
    found = {d.id: d for d in session.scalars(select(Device).where(Device.id.in_(ids)))} if ids else {}
    return Page(
        items=[DevicePublic.model_validate(found[i]) for i in ids if i in found],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


_BROKER_DOWN: dict[int | str, dict[str, Any]] = {
    503: {"description": "the broker did not confirm the device's account; nothing was changed"}
}


@router.post("", status_code=status.HTTP_201_CREATED, responses={409: {}, **_BROKER_DOWN})
def add_device(
    area: AreaDep, body: DeviceCreate, user: Manager, runtime: RuntimeDep, session: SessionDep
) -> DeviceWithAccountPublic:
    """Register a device before it is installed; the answer holds its broker account, shown once."""
    if session.scalar(select(Device.id).where(Device.area_id == area.id, Device.device_id == body.device_id)):
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "device_exists",
            f"area {area.code!r} already has a device {body.device_id!r}",
            device_id=body.device_id,
        )
    if body.zone_id is not None:
        _check_zone(session, area, body.zone_id)
    device = Device(
        area_id=area.id,
        device_id=body.device_id,
        kind=body.kind.value,
        name=body.name or body.device_id,
        zone_id=body.zone_id,
        status=DeviceStatus.ACTIVE.value,
        capabilities=[],
        codec=body.protocol,
    )
    session.add(device)
    record(session, user, area.id, "device.create", f"device:{body.device_id}", "active", body.model_dump())
    session.flush()
    account = _account(runtime, area, device, runtime.device_accounts.provision(session, area, device))
    session.commit()
    runtime.store.forget(area.code, device.device_id)
    runtime.codec_router.learn(area.code, device.device_id, device.codec)
    _tell_phones(runtime, area, device)
    return DeviceWithAccountPublic.model_validate({**_public(device), "mqtt": account})


@router.post("/{device_id}/credentials", responses={409: {}, **_BROKER_DOWN})
def renew_credentials(
    area: AreaDep, device_id: str, user: Manager, runtime: RuntimeDep, session: SessionDep
) -> DeviceWithAccountPublic:
    """A new broker password for an active device; the old one stops working at once.

    Answered like adding or accepting a device: the device, with its account under ``mqtt``.
    The broker drops the device's connection without its Last Will, so the hub says
    ``offline`` for it (and, for a gateway, for the devices behind it).
    """
    device = _device(session, area, device_id)
    if device.status != DeviceStatus.ACTIVE.value:
        raise ApiError(
            status.HTTP_409_CONFLICT,
            "device_not_active",
            f"device {device_id!r} is {device.status}; only active devices have accounts",
            device_id=device_id,
            status=device.status,
        )
    record(session, user, area.id, "device.credentials", f"device:{device_id}", "renewed")
    session.flush()
    account = _account(runtime, area, device, runtime.device_accounts.provision(session, area, device))
    cut = runtime.device_accounts.cut_off(session, area, device, closed=False)
    session.commit()
    runtime.device_accounts.announce_offline(area.code, cut)
    return DeviceWithAccountPublic.model_validate({**_public(device), "mqtt": account})


def _account(runtime: HubRuntime, area: Area, device: Device, creds: Credentials) -> MqttAccountPublic:
    """What a device is told once: the broker binds the account to client id = username."""
    host, port = runtime.settings.device_broker_host, runtime.settings.mqtt_port
    codec = runtime.codec_router.named(device.codec)
    return MqttAccountPublic(
        username=creds.username,
        password=creds.password,
        client_id=creds.username,
        host=host,
        port=port,
        protocol=codec.name,
        setup=codec.setup(area.code, device.device_id, creds.username, creds.password, host, port),
    )


def _public(device: Device) -> dict[str, Any]:
    return DevicePublic.model_validate(device).model_dump()


def _device(session: SessionDep, area: Area, device_id: str) -> Device:
    device = session.scalar(select(Device).where(Device.area_id == area.id, Device.device_id == device_id))
    if device is None:
        raise _no_device(area, device_id)
    return device


def _no_device(area: Area, device_id: str) -> HTTPException:
    return ApiError(
        status.HTTP_404_NOT_FOUND,
        "device_not_found",
        f"no device {device_id!r} in area {area.code!r}",
        device_id=device_id,
    )


@router.get("/{device_id}", response_model=DevicePublic)
async def get_device(area: AreaDep, user: Controller, request: Request, device_id: str) -> Response:
    # Usually cached: answered on the event loop, without a session or a thread-pool hop
    # (or even the runtime as a dependency: each costs tens of microseconds).
    views: DeviceViews = request.app.state.runtime.device_views
    body = await cached_or_read(request, lambda session: views.json(session, area, device_id))
    if body is None:
        raise _no_device(area, device_id)
    return Response(body, media_type="application/json")


@router.get("/{device_id}/events")
def list_device_events(
    area: AreaDep, session: SessionDep, user: Controller, paging: PagingDep, device_id: str
) -> Page[DeviceEventPublic]:
    """Newest first."""
    device = _device(session, area, device_id)
    query = select(DeviceEventRow).where(DeviceEventRow.device_pk == device.id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(DeviceEventRow.id.desc()).limit(paging.limit).offset(paging.offset))
    return Page(
        items=[DeviceEventPublic.model_validate(e) for e in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


def _check_zone(session: Session, area: Area, zone_id: int) -> None:
    if session.scalar(select(Zone.id).where(Zone.id == zone_id, Zone.area_id == area.id)) is None:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "zone_not_found",
            f"zone_id {zone_id}: no such zone in area {area.code!r}",
            zone_id=zone_id,
        )


def _tell_phones(runtime: HubRuntime, area: Area, device: Device) -> None:
    """Let open live streams show the new name, zone or status without a reload."""
    fields = {"status": device.status, "name": device.name, "zone_id": device.zone_id}
    runtime.live.publish(area.code, DEVICE, {"device_id": device.device_id, "kind": device.kind, **fields})


@router.patch("/{device_id}")
def update_device(
    area: AreaDep,
    device_id: str,
    body: DeviceUpdate,
    user: Controller,
    runtime: RuntimeDep,
    session: SessionDep,
) -> DevicePublic:
    """Rename a device or move it to another zone of the area (``zone_id: null``: out of any zone)."""
    device = _device(session, area, device_id)
    changed: dict[str, object] = {}
    if body.name is not None and body.name != device.name:
        device.name = changed["name"] = body.name
    if "zone_id" in body.model_fields_set and body.zone_id != device.zone_id:
        if body.zone_id is not None:
            _check_zone(session, area, body.zone_id)
        device.zone_id = changed["zone_id"] = body.zone_id
    result = "updated" if changed else "unchanged"
    record(session, user, area.id, "device.update", f"device:{device_id}", result, changed)
    session.commit()
    if changed:
        _tell_phones(runtime, area, device)
    return DevicePublic.model_validate(device)


def _transition(
    action: str,
    area: Area,
    device_id: str,
    user: User,
    runtime: HubRuntime,
    session: Session,
    body: DeviceAccept,
) -> tuple[Device, MqttAccountPublic | None]:
    device = _device(session, area, device_id)
    params: dict[str, object] = body.model_dump(exclude_unset=True)
    if body.zone_id is not None:
        _check_zone(session, area, body.zone_id)
    try:
        before = change_status(device, action)
    except DeviceStatusError as exc:
        raise ApiError(status.HTTP_409_CONFLICT, "device_status", str(exc)) from None
    if body.name is not None:
        device.name = body.name
    if "zone_id" in body.model_fields_set:
        device.zone_id = body.zone_id
    result = f"{before.value} -> {device.status}"
    record(session, user, area.id, f"device.{action}", f"device:{device_id}", result, params)
    session.flush()
    # The broker first: if it cannot change the account, the device keeps its status.
    account = None
    cut: list[str] = []
    if device.status == DeviceStatus.ACTIVE.value:
        account = _account(runtime, area, device, runtime.device_accounts.accept(session, area, device))
    else:
        runtime.device_accounts.revoke(area, device)
        cut = runtime.device_accounts.cut_off(session, area, device, closed=True)
    session.commit()
    # After the commit: the ingest writer reloads the device on its next batch, and must
    # read the new status, not the one still uncommitted.
    runtime.store.forget(area.code, device_id)
    runtime.device_accounts.announce_offline(area.code, cut)
    _tell_phones(runtime, area, device)
    return device, account


_WRONG_STATUS: dict[int | str, dict[str, Any]] = {
    409: {"description": "the device's status does not allow this"},
    **_BROKER_DOWN,
}


@router.post("/{device_id}/accept", responses=_WRONG_STATUS)
def accept(
    area: AreaDep,
    device_id: str,
    user: Manager,
    runtime: RuntimeDep,
    session: SessionDep,
    body: DeviceAccept | None = None,
) -> DeviceWithAccountPublic:
    """A pending device becomes active, optionally named and put in a zone; it gets a broker account."""
    device, account = _transition("accept", area, device_id, user, runtime, session, body or DeviceAccept())
    return DeviceWithAccountPublic.model_validate({**_public(device), "mqtt": account})


@router.post("/{device_id}/reject", responses=_WRONG_STATUS)
def reject(
    area: AreaDep, device_id: str, user: Manager, runtime: RuntimeDep, session: SessionDep
) -> DevicePublic:
    """A pending device is refused; the hub ignores its reports from now on."""
    device, _ = _transition("reject", area, device_id, user, runtime, session, DeviceAccept())
    return DevicePublic.model_validate(device)


@router.post("/{device_id}/retire", responses=_WRONG_STATUS)
def retire(
    area: AreaDep, device_id: str, user: Manager, runtime: RuntimeDep, session: SessionDep
) -> DevicePublic:
    """An active device is taken out of service: its broker account is deleted, its reports ignored."""
    device, _ = _transition("retire", area, device_id, user, runtime, session, DeviceAccept())
    return DevicePublic.model_validate(device)
