"""The FastAPI application; the runtime (broker link, ingest) lives as long as the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

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
    zones,
)
from hub.runtime import HubRuntime
from hub.settings import Settings, get_settings


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
    for module in (
        health,
        auth,
        users,
        areas,
        zones,
        devices,
        commands,
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
    ):
        app.include_router(module.router)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(generate_latest(rt.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
