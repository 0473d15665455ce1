"""Audio for announcements: uploads (checked) and the files speakers (with a token) and the app fetch."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from hub.api.broadcast_schemas import AudioPublic
from hub.api.deps import (
    AreaDep,
    Controller,
    RuntimeDep,
    SessionDep,
    can_see_area,
    get_claims,
    get_current_user,
)
from hub.api.errors import ApiError
from hub.audit import record
from hub.auth.tokens import TokenError
from hub.broadcasts.announce import AnnouncementError, store_audio
from hub.broadcasts.models import AudioAsset
from hub.broadcasts.recordings import ConverterMissing
from hub.models import Area, User
from hub.runtime import HubRuntime

router = APIRouter(tags=["broadcasts"])
_FILENAME = re.compile(r"^[0-9a-f]{32}\.(wav|mp3|ogg)$")
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


# The body is described here rather than as an ``UploadFile`` parameter: FastAPI reads such a
# body whole (to a temporary file) before it runs any dependency, login check included.
_UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def _read_upload(request: Request, limit: int) -> tuple[str, bytes]:
    """The uploaded file's name and bytes, read from the stream now that the caller is known.

    ``hub.api.body_guard`` stops the stream past the limit (plus the form's overhead), so no
    more than that is ever spooled to disk.
    """
    form = await request.form(max_files=1, max_fields=10)
    try:
        file = form.get("file")
        if not isinstance(file, UploadFile):
            raise ApiError(
                status.HTTP_422_UNPROCESSABLE_CONTENT,
                "audio_field_missing",
                "send the audio as the multipart/form-data field 'file'",
            )
        data = await file.read(limit + 1)
        if len(data) > limit:
            raise ApiError(
                status.HTTP_413_CONTENT_TOO_LARGE,
                "file_too_large",
                f"file too large: at most {limit} bytes",
                limit=limit,
            )
        return file.filename or "", data
    finally:
        await form.close()


@router.post("/api/v1/areas/{code}/audio", status_code=status.HTTP_201_CREATED, openapi_extra=_UPLOAD_BODY)
async def upload_audio(
    request: Request, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> AudioPublic:
    """A WAV, MP3 or OGG file, or a browser's recording, to broadcast (field ``file``).

    Type, size and duration are checked; a recording (WebM/Opus, Ogg Opus, MP4) is converted
    to WAV, which every speaker plays, and its duration is the converted file's.
    """
    filename, data = await _read_upload(request, runtime.settings.audio_max_bytes)
    # Converting a recording takes ffmpeg up to seconds: not on the event loop.
    asset = await run_in_threadpool(_store, session, runtime, area, user, filename, data)
    return AudioPublic(
        id=asset.id,
        source=asset.source,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        duration_ms=asset.duration_ms,
        url=runtime.audio_url(asset),
    )


def _store(
    session: Session, runtime: HubRuntime, area: Area, user: User, filename: str, data: bytes
) -> AudioAsset:
    try:
        asset = store_audio(session, runtime.audio, area, data)
    except AnnouncementError as exc:
        raise ApiError(status.HTTP_422_UNPROCESSABLE_CONTENT, "audio_invalid", str(exc)) from None
    except ConverterMissing as exc:
        raise ApiError(status.HTTP_503_SERVICE_UNAVAILABLE, "audio_converter_missing", str(exc)) from None
    record(
        session,
        user,
        area.id,
        "audio.upload",
        f"audio:{asset.id}",
        "stored",
        {
            "filename": filename[:100],
            "bytes": asset.size_bytes,
            "duration_ms": asset.duration_ms,
        },
    )
    session.commit()
    return asset


_AUDIO_ANSWERS: dict[int | str, dict[str, Any]] = {
    401: {"description": "neither a login nor an audio link token (`t`)"},
    403: {"description": "the token is invalid, expired or for another file"},
}


@router.get("/api/v1/audio/{filename}", response_class=FileResponse, responses=_AUDIO_ANSWERS)
async def get_audio(
    filename: str,
    request: Request,
    runtime: RuntimeDep,
    t: Annotated[str | None, Query(max_length=2000, description="the token of a play's audio link")] = None,
) -> FileResponse:
    """An announcement's audio: for a play's token (speakers) or a logged-in user of its area (the app).

    The token comes in the URL of each ``play`` (hub/broadcasts/audio_links.py); the phone app
    plays announcements with its session cookie.
    """
    if not _FILENAME.match(filename):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audio file")
    if t is not None:
        try:
            runtime.audio_links.check(filename, t)
        except TokenError as exc:
            raise HTTPException(status.HTTP_403_FORBIDDEN, str(exc)) from None
    else:
        user = await get_current_user(request, await get_claims(request))  # 401 without a login
        area_id = await run_in_threadpool(_area_of, runtime, filename)
        if area_id is None or not can_see_area(user, area_id):
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audio file")
    path = runtime.audio.path(filename)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audio file")
    return FileResponse(
        path,
        media_type=_TYPES[filename.rsplit(".", 1)[1]],
        # Private: only its holders may have it; it never changes once written.
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


def _area_of(runtime: HubRuntime, filename: str) -> int | None:
    with runtime.sessions() as session:
        asset = session.get(AudioAsset, filename.split(".", 1)[0])
        return asset.area_id if asset is not None and asset.filename == filename else None
