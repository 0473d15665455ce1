"""One answer for every write the disk refused: 503, what is wrong and how to fix it."""

from __future__ import annotations

import logging
import threading
import time

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from hub.storage.faults import classify

log = logging.getLogger(__name__)

# A read-only disk fails every write until someone fixes it: log each kind once a minute.
_LOG_EVERY_S = 60.0
_logged: dict[str, float] = {}
_logged_lock = threading.Lock()


def unwritable(request: Request, exc: Exception) -> JSONResponse | None:
    """The 503 for an exception that is the disk's doing, or None for any other."""
    fault = classify(exc)
    if fault is None:
        return None
    now = time.monotonic()
    with _logged_lock:
        due = now - _logged.get(fault.reason, -_LOG_EVERY_S) >= _LOG_EVERY_S
        if due:
            _logged[fault.reason] = now
    if due:
        log.error("%s %s failed: %s (%r)", request.method, request.url.path, fault.what, exc)
    return JSONResponse(
        {
            "detail": fault.detail,
            "reason": fault.reason,
            "code": "storage_unwritable",
            "params": {"reason": fault.reason},
        },
        status_code=503,
        headers={"Retry-After": "30"},
    )


async def os_error(request: Request, exc: Exception) -> Response:
    response = unwritable(request, exc)
    if response is None:
        raise exc  # not the disk: a bug, answered 500 as before
    return response


def install(app: FastAPI) -> None:
    """Audio files and keys are written with plain file calls; the database's failures come
    through the app's OperationalError handler, which asks ``unwritable`` first."""
    app.add_exception_handler(OSError, os_error)
