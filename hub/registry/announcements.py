"""A device announcing itself (its retained ``info``): a new pending device, or a known one's details."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from devices.messages import InfoReport, Rejected, RejectReason
from hub.models import Device, DeviceStatus
from hub.registry.changes import CLOSED, Change, Claim, jsonable
from hub.registry.device_refs import DeviceRef, DeviceRefs
from hub.registry.enrolment_gate import EnrolmentGate


class Announcements:
    """Used by the ingest writer thread only, with the store's cache of device references."""

    def __init__(self, refs: DeviceRefs, gate: EnrolmentGate) -> None:
        self._refs = refs
        self._gate = gate

    def apply(
        self,
        session: Session,
        msg: InfoReport,
        now: datetime,
        updates: dict[int, dict[str, Any]],
        claims: list[Claim],
    ) -> Change | None:
        src, info = msg.source, msg.info
        fields = {
            "model": info.model,
            "firmware": info.firmware,
            "capabilities": list(info.capabilities),
            "via": info.via,
            "rated_w": info.rated_w,
            "codec": src.codec,
            "last_seen": now,
        }
        try:
            ref = self._refs.get(session, src.area, src.device)
        except Rejected as rej:
            if rej.reason is not RejectReason.UNKNOWN_DEVICE:
                raise
            area_id = self._refs.area_id(session, src.area)
            if src.unverified:
                self._gate.admit(session, area_id, src.area, now)
            device = Device(
                area_id=area_id,
                device_id=src.device,
                kind=info.kind.value,
                status=DeviceStatus.PENDING.value,
                name=src.device,
                enrol_secret=msg.secret,
                **fields,
            )
            session.add(device)
            session.flush()
            self._refs.add(
                (src.area, src.device),
                DeviceRef(device.id, area_id, device.kind, device.status, None, via=info.via),
            )
            return Change(src.area, src.device, device.kind, {"status": device.status, **jsonable(fields)})
        if src.unverified:
            return None  # anyone enrolling may write that topic: it changes no known device
        if ref.kind != info.kind:
            raise Rejected(RejectReason.KIND_MISMATCH, f"registered as {ref.kind}, announced {info.kind}")
        if ref.status in CLOSED:
            raise Rejected(RejectReason.RETIRED, f"{src.area}/{src.device} is {ref.status}")
        claimed = info.via != ref.via
        if claimed and (ref.announced or ref.via is not None):
            # Any gateway of the area may publish an info (that is how it announces a new
            # device), and MQTT 3.1.1 does not say who did: a known device is not moved.
            where = f"behind {ref.via}" if ref.via else "connected directly"
            raise Rejected(
                RejectReason.VIA_MISMATCH, f"{src.area}/{src.device} is {where}, not via {info.via}"
            )
        self._refs.touch((src.area, src.device))
        if claimed and info.via is not None and ref.status == DeviceStatus.ACTIVE.value:
            claims.append((src.area, src.device, info.via))
        ref.via = info.via
        ref.announced = True
        if src.retained:
            del fields["last_seen"]
        updates.setdefault(ref.pk, {}).update(fields)
        return Change(src.area, src.device, ref.kind, jsonable(fields))
