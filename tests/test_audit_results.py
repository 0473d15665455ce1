"""Audit results filled in after the answer: none is lost when the hub stops."""

from __future__ import annotations

from hub.audit import ResultWriter, record
from hub.models import AuditEntry
from tests.conftest import HubHarness


def test_results_queued_before_stop_are_written(hub: HubHarness) -> None:
    with hub.runtime.sessions.begin() as session:
        entries = [record(session, None, None, "light.set", f"device:l{i}", "sent 1") for i in range(50)]
    writer = ResultWriter(hub.runtime.sessions)
    writer.start()
    for i, entry in enumerate(entries):
        writer.complete(entry.id, f"confirmed {i}")
    writer.stop()
    with hub.runtime.sessions() as session:
        results = {
            e.id: e.result
            for e in session.query(AuditEntry).filter(AuditEntry.id.in_([e.id for e in entries]))
        }
    assert results == {e.id: f"confirmed {i}" for i, e in enumerate(entries)}
