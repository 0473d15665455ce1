"""Recordings made in a browser (WebM/Opus, Ogg Opus, MP4/AAC) converted to WAV PCM with ffmpeg.

Speakers take WAV, MP3 and Ogg Vorbis (docs/protocol.md §6.5); what a phone's MediaRecorder
writes is none of these (Chromium: WebM with Opus, Firefox: Ogg with Opus, Safari: MP4 with
AAC), so the hub decodes it once into the WAV every speaker plays. The input comes from the
network and is never trusted: its container is named from its first bytes (ffmpeg never
guesses, so no playlist or concat file can make it open other files or URLs), only the first
audio stream is read, the output is capped in length and size, and ffmpeg runs with a timeout.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

RATE_HZ = 22_050  # mono 16-bit PCM at the rate espeak-ng's speech has: 44 kB a second
TIMEOUT_S = 60.0
# ffmpeg's own name for the demuxer of each container a browser records into.
_DEMUXERS = {"webm": "matroska", "ogg": "ogg", "mp4": "mov"}


class RecordingError(ValueError):
    """The file is not a recording the hub can read; the message says why."""


class ConverterMissing(RuntimeError):
    """ffmpeg is not installed on the hub: the hub's fault, not the file's."""


def recording_kind(data: bytes) -> str | None:
    """``webm``, ``ogg`` or ``mp4`` for a container only ffmpeg can turn into speaker audio; else None."""
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM and Matroska
        return "webm"
    # Ogg with Opus inside: speakers decode Ogg Vorbis only. Its first page names the codec.
    if data[:4] == b"OggS" and b"OpusHead" in data[:128]:
        return "ogg"
    if data[4:8] == b"ftyp":
        return "mp4"
    return None


def to_wav(data: bytes, kind: str, max_duration_s: int, timeout_s: float = TIMEOUT_S) -> bytes:
    """The recording decoded to mono WAV PCM, cut at one second past ``max_duration_s``.

    Cutting a second late lets the store see that the recording was too long and say so,
    rather than storing a silently shortened announcement.
    """
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise ConverterMissing(
            "ffmpeg is not installed on the hub, so recordings cannot be converted: "
            "run 'apt-get install ffmpeg' (scripts/setup.sh does)"
        )
    seconds = max_duration_s + 1
    max_out = seconds * RATE_HZ * 2 + 4096
    with tempfile.TemporaryDirectory(prefix="khu-rec-") as tmp:
        src, out = Path(tmp) / "in", Path(tmp) / "out.wav"
        src.write_bytes(data)
        # fmt: off
        command = [
            exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
            "-protocol_whitelist", "file", "-f", _DEMUXERS[kind], "-i", str(src),
            "-map", "0:a:0", "-vn", "-sn", "-dn", "-map_metadata", "-1",
            "-t", str(seconds), "-ac", "1", "-ar", str(RATE_HZ), "-c:a", "pcm_s16le",
            "-fflags", "+bitexact", "-flags:a", "+bitexact", "-fs", str(max_out),
            "-f", "wav", "-y", str(out),
        ]
        # fmt: on
        try:
            result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise RecordingError(
                f"converting the recording took longer than {timeout_s:.0f} s: send a shorter one"
            ) from None
        if result.returncode != 0 or not out.is_file():
            raise RecordingError(
                f"the {kind.upper()} file is not audio the hub can read{_why(result.stderr, tmp)}"
            )
        return out.read_bytes()


def _why(stderr: bytes, folder: str) -> str:
    """ffmpeg's last complaint, without the temporary folder's name."""
    lines = [ln.strip() for ln in stderr.decode(errors="replace").splitlines() if ln.strip()]
    if not lines:
        return ""
    return f" ({lines[-1].replace(folder + '/', '')[:160]})"
