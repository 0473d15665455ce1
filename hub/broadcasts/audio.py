"""Audio files for announcements: Vietnamese text rendered offline by espeak-ng, or uploads checked.

Files are written to a temporary name and renamed into place, so a crash or a full disk
never leaves a half-written file that a speaker could be told to play.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import shutil
import subprocess
import tempfile
import uuid
import wave
from dataclasses import dataclass
from pathlib import Path

import mutagen

from hub.broadcasts.recordings import RecordingError, recording_kind, to_wav

VOICES = ("vi", "vi-vn-x-central", "vi-vn-x-south")
_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg"}


class AudioError(ValueError):
    """An audio file or text that cannot become an announcement; the message says why."""


@dataclass(frozen=True, slots=True)
class StoredAudio:
    id: str
    filename: str
    content_type: str
    size_bytes: int
    duration_ms: int
    sha256: str


def _sniff(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    if data[:4] == b"OggS":
        return "ogg"
    raise AudioError("unsupported audio: send a WAV, MP3 or OGG file, or a recording (WebM, Ogg Opus, MP4)")


def _duration_ms(data: bytes, ext: str) -> int:
    try:
        if ext == "wav":
            with wave.open(io.BytesIO(data)) as w:
                return int(w.getnframes() * 1000 / w.getframerate())
        info = mutagen.File(io.BytesIO(data))
        if info is None or info.info is None:
            raise AudioError(f"the {ext.upper()} file is damaged or empty")
        return int(info.info.length * 1000)
    except (wave.Error, EOFError, ZeroDivisionError, mutagen.MutagenError) as exc:
        raise AudioError(f"the {ext.upper()} file is damaged: {exc}") from None


class AudioStore:
    def __init__(self, folder: Path, max_bytes: int, max_duration_s: int, min_free_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_duration_s = max_duration_s
        self.min_free_bytes = min_free_bytes

    def path(self, filename: str) -> Path:
        return self.folder / filename

    def add_upload(self, data: bytes) -> StoredAudio:
        """Validate type, size and duration, then store; a browser's recording is made WAV first.

        ``recordings.ConverterMissing`` (ffmpeg absent) is left to the caller: not the file's fault.
        """
        if len(data) > self.max_bytes:
            raise AudioError(f"file too large: {len(data)} bytes, at most {self.max_bytes}")
        if len(data) < 64:
            raise AudioError("file is empty or too short to be audio")
        kind = recording_kind(data)
        if kind is None:
            ext = _sniff(data)
        else:
            try:
                data = to_wav(data, kind, self.max_duration_s)
            except RecordingError as exc:
                raise AudioError(str(exc)) from None
            ext = "wav"
        duration = _duration_ms(data, ext)
        if duration <= 0:
            raise AudioError("the audio has no length")
        if duration > self.max_duration_s * 1000:
            raise AudioError(f"audio lasts {duration / 1000:.0f} s, at most {self.max_duration_s} s")
        return self._write(data, ext, duration)

    def render_tts(self, text: str, voice: str) -> StoredAudio:
        """Speak ``text`` in Vietnamese with espeak-ng (offline, a few milliseconds)."""
        if voice not in VOICES:
            raise AudioError(f"unknown voice {voice!r}; use one of {', '.join(VOICES)}")
        exe = shutil.which("espeak-ng")
        if exe is None:
            raise AudioError("espeak-ng is not installed: run 'apt-get install espeak-ng'")
        with tempfile.NamedTemporaryFile(suffix=".wav") as out:
            # Text goes through stdin, never the command line: nothing in it can become an option.
            result = subprocess.run(
                [exe, "-v", voice, "-s", "150", "-w", out.name, "--stdin"],
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=60,
                check=False,
            )
            if result.returncode != 0:
                raise AudioError(f"espeak-ng failed: {result.stderr.decode(errors='replace')[:200]}")
            data = Path(out.name).read_bytes()
        return self._write(data, "wav", _duration_ms(data, "wav"))

    def _write(self, data: bytes, ext: str, duration_ms: int) -> StoredAudio:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if shutil.disk_usage(self.folder).free - len(data) < self.min_free_bytes:
            # The disk's fault, not the file's: answered 503 like a write that hit ENOSPC.
            raise OSError(errno.ENOSPC, "the disk is nearly full", str(self.folder))
        asset_id = uuid.uuid4().hex
        filename = f"{asset_id}.{ext}"
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.folder / filename)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return StoredAudio(
            asset_id, filename, _TYPES[ext], len(data), duration_ms, hashlib.sha256(data).hexdigest()
        )
