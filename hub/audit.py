"""Writing audit rows; nothing changes or deletes one, except that a command's result is
filled in once its devices answered."""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any, cast

from sqlalchemy import Table, bindparam
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from hub.models import AuditEntry, User

log = logging.getLogger(__name__)
_STOP = object()
_audit = cast(Table, AuditEntry.__table__)
_COMPLETE = _audit.update().where(_audit.c.id == bindparam("b_id")).values(result=bindparam("b_result"))


def record(
    session: Session,
    actor: User | None,
    area_id: int | None,
    action: str,
    target: str,
    result: str,
    params: dict[str, Any] | None = None,
    ref: str | None = None,
) -> AuditEntry:
    """Add an audit row to the session's transaction (committed with the change it records)."""
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor=actor.username if actor else "system",
        area_id=area_id,
        action=action,
        target=target[:200],
        params=params or {},
        result=result[:400],
        ref=ref,
    )
    session.add(entry)
    return entry


class ResultWriter:
    """Fills in the results of actions recorded before they finished, on its own thread.

    A command's entry is written with its commands, saying what was sent; its devices'
    answers come later. Writing those from the request (a transaction of its own) held up
    the answer and then the connection's next request; here they are batched. If the hub
    stops before one is written, the entry keeps what was sent.
    """

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._queue: queue.SimpleQueue[tuple[int, str] | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="audit-results", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(10)
            self._thread = None

    def complete(self, entry_id: int, result: str) -> None:
        self._queue.put((entry_id, result[:400]))

    def _run(self) -> None:
        stopping = False
        while not stopping:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            stopping = _STOP in batch
            params = [{"b_id": i, "b_result": r} for i, r in (x for x in batch if isinstance(x, tuple))]
            if params:
                self._write(params)

    def _write(self, params: list[dict[str, Any]]) -> None:
        for attempt in range(5):
            try:
                with self._sessions.begin() as session:
                    session.connection().execute(_COMPLETE, params)
                return
            except DBAPIError as exc:
                log.warning("audit results not written yet (%s); retrying", exc.orig)
                time.sleep(0.1 * 2**attempt)
        log.error("gave up writing %d audit results; the entries keep what was sent", len(params))
