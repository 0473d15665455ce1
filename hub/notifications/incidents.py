"""Incidents: the outages of one area that begin together are one event for the head.

A power cut or a lost gateway takes a whole street dark at once; telling the head once per
camera made forty buzzes of one fault. The rule, kept by the camera-alerts thread alone:

- A camera going dark joins the incident it already belongs to (a flap adds nothing), else
  the area's newest open incident if that began at most ``window_s`` ago, else opens one.
  A gateway lives in one area, so the devices behind one lost gateway share an incident.
- An incident ends when the last of its cameras is back; only then is a flapping camera free
  to start a new one.

Lights, speakers and gateways never open an incident (a lamp gone dark alone is no alert):
they are counted in its summary when the head is told (see ``incident_texts``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from hub.bulk_sql import IN_CHUNK
from hub.models import as_utc
from hub.notifications.models import CameraOutage, Incident


@dataclass(slots=True)
class OpenIncident:
    id: int
    area_id: int
    started: datetime
    alerted: bool = False
    members: set[int] = field(default_factory=set)  # camera pks with an outage in it
    dark: set[int] = field(default_factory=set)  # those whose outage is still open


class IncidentBook:
    """The open incidents and which camera belongs to which; one thread uses it."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._open: dict[int, OpenIncident] = {}
        self._of: dict[int, int] = {}  # camera pk -> its open incident
        self._newest: dict[int, int] = {}  # area id -> its newest open incident
        self.opened = 0  # incidents opened since start, for metrics and tests

    def get(self, incident_id: int) -> OpenIncident | None:
        return self._open.get(incident_id)

    def join(self, session: Session, cams: Iterable[tuple[int, int]], now: datetime) -> dict[int, int]:
        """The incident of each (camera pk, area id) going dark now; new incidents are inserted."""
        out: dict[int, int] = {}
        for pk, area_id in cams:
            iid = self._of.get(pk)
            if iid is None:
                newest = self._open.get(self._newest.get(area_id, -1))
                if newest is not None and (now - newest.started).total_seconds() <= self.window_s:
                    iid = newest.id
                else:
                    iid = self._insert(session, area_id, now)
                self._of[pk] = iid
            inc = self._open[iid]
            inc.members.add(pk)
            inc.dark.add(pk)
            out[pk] = iid
        return out

    def back(self, pk: int) -> OpenIncident | None:
        """The camera is back: its incident if that was the last of it still dark (it ends)."""
        iid = self._of.get(pk)
        inc = self._open.get(iid) if iid is not None else None
        if inc is None:
            return None
        inc.dark.discard(pk)
        if inc.dark:
            return None
        self._forget(inc)
        return inc

    def resume(self, session: Session, now: datetime) -> tuple[list[OpenIncident], list[OpenIncident]]:
        """After a restart: (incidents still open, incidents whose cameras all came back)."""
        rows = session.execute(
            select(Incident.id, Incident.area_id, Incident.started_at, Incident.alerted).where(
                Incident.ended_at.is_(None)
            )
        ).all()
        for iid, area_id, started, alerted in rows:
            self._add(OpenIncident(iid, area_id, as_utc(started), alerted))
        ids = list(self._open)
        for i in range(0, len(ids), IN_CHUNK):
            for pk, member_of, ended in session.execute(
                select(CameraOutage.device_pk, CameraOutage.incident_id, CameraOutage.ended_at).where(
                    CameraOutage.incident_id.in_(ids[i : i + IN_CHUNK])
                )
            ):
                inc = self._open[member_of or 0]  # never None: chosen by incident id
                inc.members.add(pk)
                self._of[pk] = inc.id
                if ended is None:
                    inc.dark.add(pk)
        self._adopt_orphans(session, now)
        done = [inc for inc in self._open.values() if not inc.dark]
        for inc in done:
            self._forget(inc)
        return list(self._open.values()), done

    def _adopt_orphans(self, session: Session, now: datetime) -> None:
        """Outages left open by a hub from before incidents join one, as if they began now."""
        orphans = session.execute(
            select(CameraOutage.id, CameraOutage.device_pk, CameraOutage.area_id, CameraOutage.alerted).where(
                CameraOutage.ended_at.is_(None), CameraOutage.incident_id.is_(None)
            )
        ).all()
        for oid, pk, area_id, alerted in orphans:
            iid = self.join(session, [(pk, area_id)], now)[pk]
            self._open[iid].alerted |= alerted
            session.execute(update(CameraOutage).where(CameraOutage.id == oid).values(incident_id=iid))
        for inc in self._open.values():
            if inc.alerted:
                session.execute(update(Incident).where(Incident.id == inc.id).values(alerted=True))

    def _insert(self, session: Session, area_id: int, now: datetime) -> int:
        iid: int = session.execute(
            insert(Incident)
            .values(area_id=area_id, started_at=now, alerted=False, summary={})
            .returning(Incident.id)
        ).scalar_one()
        self._add(OpenIncident(iid, area_id, now))
        self.opened += 1
        return iid

    def _add(self, inc: OpenIncident) -> None:
        self._open[inc.id] = inc
        newest = self._open.get(self._newest.get(inc.area_id, -1))
        if newest is None or newest.started <= inc.started:
            self._newest[inc.area_id] = inc.id

    def _forget(self, inc: OpenIncident) -> None:
        del self._open[inc.id]
        for pk in inc.members:
            if self._of.get(pk) == inc.id:
                del self._of[pk]
        if self._newest.get(inc.area_id) == inc.id:
            del self._newest[inc.area_id]
