"""Liveness and readiness for process supervisors and load balancers."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from hub.api.deps import RuntimeDep
from hub.api.schemas import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> HealthPublic:
    """The process is alive."""
    return HealthPublic(status="ok")


@router.get("/readyz", responses={503: {"model": HealthPublic}})
def readyz(runtime: RuntimeDep, response: Response) -> HealthPublic:
    """Ready to serve: connected and subscribed to the broker (ACLs allowed it), the database answers,
    and the hub can write its database, state dir and audio folder (checked at most every 2 s)."""
    checks = {
        "broker": runtime.link.subscribed,
        "database": runtime.database_ok(),
        **runtime.storage.checks(),
    }
    if not all(checks.values()):
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        return HealthPublic(status="unavailable", checks=checks)
    return HealthPublic(status="ready", checks=checks)
