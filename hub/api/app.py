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
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from hub.api import errors, origin, storage_errors
from hub.api.body_guard import BodyGuard
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
    enrolment,
    health,
    incidents,
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
from hub.broker.accounts import BrokerAccountError
from hub.runtime import HubRuntime
from hub.settings import Settings, get_settings

log = logging.getLogger(__name__)

# How uvicorn must run the app (``khu serve``, the tests' live servers): the app decides which
# X-Forwarded-* headers to believe (``trusted_proxies``), so uvicorn must not (by default it
# believes any from 127.0.0.1).
UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False}


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
    if settings.trusted_proxies.strip():
        # The client's address and scheme from X-Forwarded-For/-Proto, from these proxies only.
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)
    app.add_middleware(BodyGuard, settings=settings)  # outermost: before anything reads a body
    origin.install(app)
    errors.install(app)
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
        incidents,
        enrolment,
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
        return errors.error_response(422, "number_out_of_range", "a number in the request is out of range")

    @app.exception_handler(OperationalError)
    @app.exception_handler(SATimeoutError)
    async def database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        if (refused := storage_errors.unwritable(request, exc)) is not None:
            return refused  # a read-only, full or failing disk: retrying will not help
        # A busy or unreachable database is a passing condition, not a bug: say so, and when to retry.
        log.warning("database unavailable for %s %s: %s", request.method, request.url.path, exc)
        return errors.error_response(
            503,
            "database_busy",
            "the database is busy or unavailable; nothing was changed, try again shortly",
            headers={"Retry-After": "2"},
        )

    storage_errors.install(app)

    @app.exception_handler(BrokerAccountError)
    async def broker_unavailable(request: Request, exc: Exception) -> JSONResponse:
        log.warning("broker account change failed for %s %s: %s", request.method, request.url.path, exc)
        return errors.error_response(
            503, "broker_unavailable", f"{exc}; nothing was changed", headers={"Retry-After": "5"}
        )

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
