"""Commands to lights and loudspeakers: one device, a zone or the whole area, with confirmed state."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.api.command_schemas import (
    CommandCreate,
    CommandGroupPublic,
    CommandPublic,
    LightSetAction,
    OutcomePublic,
    SpeakerStopAction,
    SpeakerVolumeAction,
)
from hub.api.deps import AreaDep, Controller, PagingDep, RuntimeDep, SessionDep
from hub.api.errors import ApiError
from hub.api.idempotency import fingerprint, once
from hub.api.schemas import Page
from hub.audit import record
from hub.commands.factory import ACTIONS, copies
from hub.commands.service import Staged
from hub.models import AuditEntry, CommandRow, CommandStatus, Device, DeviceStatus, Zone

router = APIRouter(prefix="/api/v1/areas/{code}/commands", tags=["commands"])


def _params(action: LightSetAction | SpeakerVolumeAction | SpeakerStopAction) -> dict[str, object]:
    return action.model_dump(exclude={"type"}, exclude_none=True)


@router.post(
    "",
    response_model=CommandGroupPublic,
    responses={409: {"description": "same Idempotency-Key still in progress"}},
)
def create_command(
    body: CommandCreate,
    request: Request,
    area: AreaDep,
    user: Controller,
    runtime: RuntimeDep,
    session: SessionDep,
    idempotency_key: Annotated[str | None, Header(min_length=8, max_length=128)] = None,
) -> Response:
    """Send a command and wait (``wait_ms``) for each device's confirmed state.

    Devices that do not confirm in time are listed in ``pending``; their outcome shows up
    later under ``GET …/commands?group_id=``. Offline devices get the command when they come
    back, unless ``ttl_s`` passes first.
    """
    action_name = body.action.type
    kind = ACTIONS[action_name][0]
    # Only what issuing needs: loading whole devices (state, capabilities...) for a zone of
    # a thousand lights costs more than the rest of the request.
    query = select(Device.id, Device.device_id, Device.online).where(
        Device.area_id == area.id, Device.kind == kind, Device.status == DeviceStatus.ACTIVE.value
    )
    t = body.target
    if t.device_id is not None:
        query = query.where(Device.device_id == t.device_id)
    elif t.zone_id is not None:
        if session.scalar(select(Zone.id).where(Zone.id == t.zone_id, Zone.area_id == area.id)) is None:
            raise ApiError(
                status.HTTP_404_NOT_FOUND,
                "zone_not_found",
                f"no zone {t.zone_id} in area {area.code!r}",
                zone_id=t.zone_id,
            )
        query = query.where(Device.zone_id == t.zone_id)
    targets = list(session.execute(query.order_by(Device.device_id)))
    if not targets:
        raise ApiError(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "no_targets",
            f"{t.describe()} has no active {kind}; check the target and that the device was accepted",
            target=t.describe(),
            kind=kind,
        )
    params = _params(body.action)
    settings = runtime.settings
    wait_s = (body.wait_ms if body.wait_ms is not None else settings.command_wait_ms) / 1000
    ttl_s = body.ttl_s or settings.command_ttl_s
    session.close()
    make = copies(action_name, params)

    audit: list[AuditEntry] = []

    def note(s: Session, staged: Staged) -> None:
        # Committed with the commands it records (its id is known once they are); the
        # result is completed after the answer.
        entry = record(
            s,
            user,
            area.id,
            action_name,
            t.describe(),
            _result(Counter(r.status for r in staged.rows)),
            params,
            staged.group,
        )
        audit.append(entry)

    def act() -> CommandGroupPublic:
        group, outcomes = runtime.commands.issue(
            area,
            targets,
            action_name,
            params,
            make,
            user,
            wait_s,
            ttl_s,
            also=note,
        )
        summary = dict(Counter(o.status.value for o in outcomes))
        return CommandGroupPublic(
            group_id=group,
            action=action_name,
            target=t.describe(),
            results=[
                OutcomePublic(
                    device_id=o.device_id,
                    command_id=o.command_id,
                    status=o.status.value,
                    state=o.state,
                    error=o.error,
                )
                for o in outcomes
            ],
            summary=summary,
            pending=[o.device_id for o in outcomes if o.status.value in ("queued", "sent", "timed_out")],
        )

    answer = once(runtime.sessions, user, idempotency_key, fingerprint("POST", request.url.path, body), act)
    if audit:  # not when a repeated Idempotency-Key found the first answer
        runtime.audit_results.complete(audit[0].id, _result(answer["summary"]))
    # Already validated and JSON-ready: sent as it is rather than validated and encoded again.
    return JSONResponse(answer)


def _result(counts: Mapping[str, int]) -> str:
    """An audit result: how many commands ended in each status ("confirmed 9, queued 1")."""
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


@router.get("")
def list_commands(
    area: AreaDep,
    session: SessionDep,
    user: Controller,
    paging: PagingDep,
    group_id: str | None = None,
    device_id: str | None = None,
    command_status: Annotated[CommandStatus | None, Query(alias="status")] = None,
) -> Page[CommandPublic]:
    """Newest first."""
    query = select(CommandRow).where(CommandRow.area_id == area.id)
    if group_id:
        query = query.where(CommandRow.group_id == group_id)
    if device_id:
        query = query.where(CommandRow.device_id == device_id)
    if command_status is not None:
        query = query.where(CommandRow.status == command_status.value)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(CommandRow.created_at.desc(), CommandRow.id).limit(paging.limit).offset(paging.offset)
    )
    return Page(
        items=[CommandPublic.model_validate(r) for r in rows],
        total=total,
        limit=paging.limit,
        offset=paging.offset,
    )


@router.get("/{command_id}")
def get_command(area: AreaDep, session: SessionDep, user: Controller, command_id: str) -> CommandPublic:
    row = session.scalar(select(CommandRow).where(CommandRow.id == command_id, CommandRow.area_id == area.id))
    if row is None:
        raise ApiError(
            status.HTTP_404_NOT_FOUND,
            "command_not_found",
            f"no command {command_id!r} in area {area.code!r}",
            command_id=command_id,
        )
    return CommandPublic.model_validate(row)
