"""The FastAPI application; the runtime (broker link, ingest) lives as long as the app."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import OperationalError, StatementError
from sqlalchemy.exc import TimeoutError as SATimeoutError

from hub.api.deps import CloseSessions
from hub.api.routes import (
    announcements,
    areas,
    audio,
    audit,
    auth,
    camera_outages,
    cameras,
    commands,
    devices,
    emergency,
    health,
    invites,
    notifications,
    programmes,
    push,
    schedule,
    stream,
    timetables,
    users,
    web,
    zones,
)
from hub.broker_accounts import BrokerAccountError
from hub.runtime import HubRuntime
from hub.settings import Settings, get_settings

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, runtime: HubRuntime | None = None) -> FastAPI:
    """Build the app; pass a runtime to share one with the caller (tests, benchmarks)."""
    settings = settings or get_settings()
    owned = runtime is None
    rt = runtime or HubRuntime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned:
            rt.start()
        yield
        if owned:
            rt.stop()

    app = FastAPI(
        title="Khu hub",
        summary="Street lights, loudspeakers and cameras of Vietnamese residential areas",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.runtime = rt
    app.add_middleware(CloseSessions)
    # Routes are tried in this order, so the ones phones use most come first.
    for module in (
        devices,
        commands,
        health,
        auth,
        users,
        areas,
        zones,
        cameras,
        timetables,
        programmes,
        schedule,
        announcements,
        audio,
        emergency,
        audit,
        stream,
        notifications,
        push,
        invites,
        camera_outages,
        web,  # last: the API's routes win
    ):
        app.include_router(module.router)

    def openapi() -> dict[str, Any]:
        """FastAPI's document, saying that a 422 may also carry one plain message (our HTTPException)."""
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
            detail = doc.get("components", {}).get("schemas", {}).get("HTTPValidationError", {})
            if "properties" in detail:
                detail["properties"]["detail"] = {
                    "anyOf": [detail["properties"]["detail"], {"type": "string"}],
                    "title": "Detail",
                }
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(OverflowError)
    @app.exception_handler(StatementError)
    async def number_out_of_range(request: Request, exc: Exception) -> JSONResponse:
        # An id or number beyond what the database can store cannot name anything that exists.
        if isinstance(exc, StatementError) and not isinstance(exc.orig, OverflowError):
            raise exc
        return JSONResponse({"detail": "a number in the request is out of range"}, status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(SATimeoutError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # A busy or unreachable database is a passing condition, not a bug: say so, and when to retry.
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is busy or unavailable; nothing was changed, try again shortly"},
            status_code=503,
            headers={"Retry-After": "2"},
        )

    @app.exception_handler(BrokerAccountError)
    async def broker_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("broker account change failed for %s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": f"{exc}; nothing was changed"}, status_code=503, headers={"Retry-After": "5"}
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
