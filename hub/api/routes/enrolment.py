"""An area's enrolment window: new devices given the hub's address announce themselves."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, status

from devices.protocols.enrolment import enrol_topic
from devices.protocols.tasmota import full_topic
from hub.api.deps import AreaDep, Manager, RuntimeDep, SessionDep
from hub.api.management_schemas import EnrolmentOpen
from hub.api.schemas import EnrolmentPublic, EnrolmentStatePublic
from hub.audit import record
from hub.models import Area, as_utc

router = APIRouter(prefix="/api/v1/areas/{code}/enrolment", tags=["enrolment"])


@router.get("")
def enrolment_state(area: AreaDep, user: Manager, session: SessionDep) -> EnrolmentStatePublic:
    area = session.get_one(Area, area.id)  # ``area`` is the API's shared, cached copy
    return EnrolmentStatePublic(open=_open(area), until=area.enrol_until if _open(area) else None)


@router.post("", responses={503: {"description": "the broker did not confirm the account"}})
def open_enrolment(
    area: AreaDep, body: EnrolmentOpen, user: Manager, runtime: RuntimeDep, session: SessionDep
) -> EnrolmentPublic:
    """Open (or reopen, with a new password) the window; the password is shown this once.

    A device set up with this account appears as pending; accepting it gives it an account
    of its own. The account can only announce: it reads nothing.
    """
    area = session.get_one(Area, area.id)  # changed here: ``area`` is the shared, cached copy
    until = datetime.now(UTC) + timedelta(minutes=body.minutes)
    creds = runtime.accounts.provision_enrolment(area.code)
    area.enrol_until = until
    record(session, user, area.id, "enrolment.open", f"area:{area.code}", "open", body.model_dump())
    session.commit()
    runtime.enrolment_windows.close_at(area.code, until)
    host, port = runtime.settings.device_broker_host, runtime.settings.mqtt_port
    return EnrolmentPublic(
        open=True,
        until=until,
        username=creds.username,
        password=creds.password,
        host=host,
        port=port,
        native_topic=enrol_topic(area.code, "<device id>"),
        tasmota_backlog=(
            f"Backlog MqttHost {host}; MqttPort {port}; MqttUser {creds.username}; "
            f"MqttPassword {creds.password}; Topic <device id>; FullTopic {full_topic(area.code)}"
        ),
    )


@router.delete("", status_code=status.HTTP_204_NO_CONTENT)
def close_enrolment(area: AreaDep, user: Manager, runtime: RuntimeDep, session: SessionDep) -> None:
    """Close the window now: the enrolment account goes; pending devices stay for the head to judge."""
    area = session.get_one(Area, area.id)
    runtime.accounts.revoke_enrolment(area.code)
    area.enrol_until = None
    record(session, user, area.id, "enrolment.close", f"area:{area.code}", "closed")
    session.commit()


def _open(area: Area) -> bool:
    return area.enrol_until is not None and as_utc(area.enrol_until) > datetime.now(UTC)
