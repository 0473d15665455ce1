"""Audio for announcements: uploads (checked) and the files speakers fetch."""

from __future__ import annotations

import re

from fastapi import APIRouter, HTTPException, UploadFile, status
from fastapi.responses import FileResponse

from hub.api.broadcast_schemas import AudioPublic
from hub.api.deps import AreaDep, Controller, RuntimeDep, SessionDep
from hub.audit import record
from hub.broadcasts.announce import AnnouncementError, store_audio

router = APIRouter(tags=["broadcasts"])
_FILENAME = re.compile(r"^[0-9a-f]{32}\.(wav|mp3|ogg)$")
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


@router.post("/api/v1/areas/{code}/audio", status_code=status.HTTP_201_CREATED)
async def upload_audio(
    file: UploadFile, area: AreaDep, user: Controller, session: SessionDep, runtime: RuntimeDep
) -> AudioPublic:
    """A WAV, MP3 or OGG file to broadcast; type, size and duration are checked."""
    limit = runtime.settings.audio_max_bytes
    data = await file.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"file too large: at most {limit} bytes")
    try:
        asset = store_audio(session, runtime.audio, area, data)
    except AnnouncementError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    record(
        session,
        user,
        area.id,
        "audio.upload",
        f"audio:{asset.id}",
        "stored",
        {
            "filename": (file.filename or "")[:100],
            "bytes": asset.size_bytes,
            "duration_ms": asset.duration_ms,
        },
    )
    session.commit()
    return AudioPublic(
        id=asset.id,
        source=asset.source,
        content_type=asset.content_type,
        size_bytes=asset.size_bytes,
        duration_ms=asset.duration_ms,
        url=runtime.audio_url(asset),
    )


@router.get("/api/v1/audio/{filename}", response_class=FileResponse)
def get_audio(filename: str, runtime: RuntimeDep) -> FileResponse:
    """Served to speakers without a login: names are random and files never change once written."""
    if not _FILENAME.match(filename):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audio file")
    path = runtime.audio.path(filename)
    if not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such audio file")
    return FileResponse(
        path,
        media_type=_TYPES[filename.rsplit(".", 1)[1]],
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
