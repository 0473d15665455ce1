"""Fetching an announcement's audio (with the play's token), keeping it, and decoding it to PCM.

Files are kept under the name the hub gives them (``<random>.<wav|mp3|ogg>``: a name never
gets other content), so an announcement played again, or resumed after an emergency, starts
from the cache. A download must be complete (``Content-Length``) and within the size limit;
it is written under a temporary name and renamed, so a cut never leaves half a file. Decoding
uses sox (``apt-get install sox libsox-fmt-mp3``: WAV, MP3 and OGG Vorbis), else ffmpeg; Ogg
Opus (what a browser records) opusdec (``opus-tools``) or ffmpeg; PCM WAV needs none of them.
The result is a 16-bit PCM WAV file that the output streams to ALSA.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
import wave
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,100}\.(wav|mp3|ogg)$")
_CHUNK = 64 * 1024


class AudioError(Exception):
    """The audio could not be fetched or decoded; the message is the play's ``error``."""


@dataclass(frozen=True, slots=True)
class Decoded:
    path: Path  # 16-bit PCM WAV
    rate: int
    channels: int
    frames: int

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // self.rate


def sniff(head: bytes) -> str:
    """The format from the file's first bytes (the hub accepts these three)."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return "mp3"
    if head[:4] == b"OggS":
        return "ogg"
    raise AudioError("unsupported audio format (not WAV, MP3 or OGG)")


def decoders() -> list[str]:
    """The decoding tools found on this machine, in the order they are tried."""
    return [tool for tool in ("sox", "ffmpeg") if shutil.which(tool)]


class AudioCache:
    def __init__(
        self, folder: Path, max_total_bytes: int, max_file_bytes: int, timeout_s: float, ca_file: str = ""
    ) -> None:
        self.folder = folder
        self.max_total = max_total_bytes
        self.max_file = max_file_bytes
        self.timeout = timeout_s
        self._ssl = ssl.create_default_context(cafile=ca_file or None)

    def fetch(self, url: str) -> Path:
        """The file at ``url``, from the cache or downloaded whole."""
        name = urlsplit(url).path.rsplit("/", 1)[-1]
        if not _NAME.match(name):
            raise AudioError(f"unexpected audio file name {name[:60]!r}")
        path = self.folder / name
        if path.is_file():
            os.utime(path)  # recently used: evicted last
            return path
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            with urllib.request.urlopen(url, timeout=self.timeout, context=self._ssl) as response:
                expected = response.headers.get("Content-Length")
                if expected is not None and int(expected) > self.max_file:
                    raise AudioError(f"audio too large: {expected} bytes, at most {self.max_file}")
                data = response.read(self.max_file + 1)
        except urllib.error.HTTPError as exc:
            raise AudioError(f"the hub refused the audio: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise AudioError(f"audio unreachable: {exc}") from None
        if len(data) > self.max_file:
            raise AudioError(f"audio too large: over {self.max_file} bytes")
        if expected is not None and len(data) != int(expected):
            raise AudioError(f"audio cut short: {len(data)} of {expected} bytes")
        sniff(data[:16])
        self._write(path, data)
        self._evict(keep=path)
        return path

    def decode(self, source: Path, gain_percent: int = 100) -> Decoded:
        """16-bit PCM of ``source`` (``gain_percent``: a software volume, when there is no mixer)."""
        out = source.with_name(f"{source.name}.g{gain_percent}.pcm.wav")
        if not out.is_file():
            with source.open("rb") as f:
                kind = sniff(f.read(16))
            if kind == "wav" and gain_percent == 100 and _pcm16(source):
                return _read(source)
            self._convert(source, kind, out, gain_percent)
        return _read(out)

    def _convert(self, source: Path, kind: str, out: Path, gain_percent: int) -> None:
        """Decode with the first tool that can: sox, then ffmpeg (Ogg Opus: opusdec or ffmpeg)."""
        with source.open("rb") as f:
            opus = kind == "ogg" and b"OpusHead" in f.read(512)  # sox reads Ogg Vorbis only
        tools = [t for t in ("opusdec", "ffmpeg") if shutil.which(t)] if opus else decoders()
        if not tools:
            what, need = ("Ogg Opus", "opus-tools") if opus else (kind.upper(), "sox libsox-fmt-mp3")
            raise AudioError(f"cannot decode {what}: apt-get install {need}")
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=".dec-", suffix=".wav")
        os.close(fd)
        problem = ""
        for tool in tools:
            try:
                argv = _argv(tool, kind, source, tmp, gain_percent)
                done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
            except (OSError, subprocess.TimeoutExpired) as exc:
                problem = f"{tool} failed: {exc}"
                continue
            if done.returncode == 0:
                os.replace(tmp, out)
                return
            problem = done.stderr.strip()[:150] or f"{tool} exited with {done.returncode}"
        Path(tmp).unlink(missing_ok=True)
        raise AudioError(f"cannot decode the {kind.upper()}: {problem}")

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _evict(self, keep: Path) -> None:
        """Remove the least recently used files while the cache is over its size."""
        files = sorted((p for p in self.folder.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
        total = sum(p.stat().st_size for p in files)
        for p in files:
            if total <= self.max_total:
                break
            if p.name.startswith(keep.name):
                continue
            total -= p.stat().st_size
            p.unlink(missing_ok=True)


def _argv(tool: str, kind: str, source: Path, out: str, gain_percent: int) -> list[str]:
    gain = f"{gain_percent / 100:.2f}"
    if tool == "sox":
        argv = ["sox", "-q", "-t", kind, str(source), "-t", "wav", "-b", "16", "-e", "signed", out]
        return argv + (["vol", gain] if gain_percent != 100 else [])
    if tool == "opusdec":
        db = f"{20 * math.log10(gain_percent / 100):.1f}" if gain_percent > 0 else "-96"
        return ["opusdec", "--quiet", *(["--gain", db] if gain_percent != 100 else []), str(source), out]
    argv = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source), "-acodec", "pcm_s16le"]
    return argv + (["-af", f"volume={gain}"] if gain_percent != 100 else []) + [out]


def _pcm16(path: Path) -> bool:
    try:
        with wave.open(str(path), "rb") as w:
            return w.getsampwidth() == 2 and w.getcomptype() == "NONE"
    except (wave.Error, EOFError):
        return False


def _read(path: Path) -> Decoded:
    try:
        with wave.open(str(path), "rb") as w:
            decoded = Decoded(path, w.getframerate(), w.getnchannels(), w.getnframes())
            width = w.getsampwidth()
    except (wave.Error, EOFError, OSError) as exc:
        raise AudioError(f"the decoded audio is unreadable: {exc}") from None
    if width != 2 or decoded.rate <= 0 or decoded.channels <= 0:
        raise AudioError("the decoded audio is not 16-bit PCM")
    if decoded.frames <= 0:
        raise AudioError("the audio has no length")
    return decoded
