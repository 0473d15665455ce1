"""Recordings from the phone app (WebM/Opus and the like) are converted to WAV and broadcast."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tempfile
import wave
from collections.abc import Callable
from pathlib import Path

import pytest

from hub.broadcasts.audio import AudioError, AudioStore
from hub.broadcasts.recordings import RecordingError, to_wav
from tests.conftest import SimArea, SimTimings
from tests.test_broadcasts import post, wait_status

SPEAK = SimTimings(action_delay_s=0.02, play_duration_s=0.6, heartbeat_s=5.0, motion_per_hour=0.0)


def ffmpeg() -> str:
    exe = shutil.which("ffmpeg")
    if exe is None:
        pytest.fail("ffmpeg is missing: scripts/setup.sh installs it (apt-get install ffmpeg)")
    return exe


def recording(tmp_path: Path, name: str, seconds: float, *codec: str) -> bytes:
    """A tone of ``seconds`` encoded as a browser would record it (the container from ``name``)."""
    out = tmp_path / name
    subprocess.run(
        [ffmpeg(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         f"sine=frequency=440:duration={seconds}", *codec, "-y", str(out)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return out.read_bytes()


def upload(area: SimArea, name: str, data: bytes, content_type: str) -> tuple[int, dict[str, object]]:
    r = area.hub.http.post(f"/api/v1/areas/{area.code}/audio", files={"file": (name, data, content_type)})
    body: dict[str, object] = r.json()
    return r.status_code, body


def test_a_webm_opus_recording_is_converted_to_wav_and_played(
    sim_area_factory: Callable[..., SimArea], tmp_path: Path
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=SPEAK)
    webm = recording(tmp_path, "ghi-am.webm", 2, "-c:a", "libopus")
    assert webm[:4] == b"\x1a\x45\xdf\xa3"
    code, body = upload(area, "ghi-am.webm", webm, "audio/webm;codecs=opus")
    assert code == 201, body
    assert body["content_type"] == "audio/wav"
    assert abs(int(str(body["duration_ms"])) - 2000) <= 100, body
    served = area.hub.http.get(str(body["url"]).split("8080", 1)[-1])
    assert served.status_code == 200
    assert served.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(served.content)) as w:
        # What every speaker decodes: mono 16-bit PCM.
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 22050)
        assert abs(w.getnframes() / w.getframerate() - 2.0) < 0.1
    ann = post(area, audio_id=body["id"], title="Ghi âm")
    assert ann["duration_ms"] == body["duration_ms"]
    done = wait_status(area, ann["id"], "done")
    assert [d["status"] for d in done["deliveries"]] == ["finished", "finished"]


def test_ogg_opus_and_mp4_recordings_are_converted_but_ogg_vorbis_is_kept(
    sim_area_factory: Callable[..., SimArea], tmp_path: Path
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    # Firefox records Ogg Opus, which speakers (Ogg Vorbis only) cannot play; Safari records MP4.
    for name, codec, mime in (
        ("firefox.ogg", ("-c:a", "libopus"), "audio/ogg"),
        ("safari.mp4", ("-c:a", "aac"), "audio/mp4"),
    ):
        code, body = upload(area, name, recording(tmp_path, name, 1.5, *codec), mime)
        assert code == 201, body
        assert body["content_type"] == "audio/wav", name
        assert abs(int(str(body["duration_ms"])) - 1500) <= 100, body
    code, body = upload(area, "v.ogg", recording(tmp_path, "v.ogg", 1, "-c:a", "libvorbis"), "audio/ogg")
    assert code == 201, body
    assert body["content_type"] == "audio/ogg"


def test_a_file_that_is_not_audio_is_refused_with_a_code(
    sim_area_factory: Callable[..., SimArea], tmp_path: Path
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    garbage = os.urandom(4000)
    code, body = upload(area, "ghi-am.webm", garbage, "audio/webm")
    assert code == 422
    assert body["code"] == "audio_invalid"
    assert "WAV, MP3 or OGG" in str(body["detail"])
    # Garbage behind WebM's magic number gets as far as ffmpeg, which cannot read it.
    code, body = upload(area, "ghi-am.webm", b"\x1a\x45\xdf\xa3" + garbage, "audio/webm")
    assert code == 422, body
    assert body["code"] == "audio_invalid"
    assert "not audio the hub can read" in str(body["detail"])
    assert "khu-rec-" not in str(body["detail"]), "the hub's temporary folder is its own business"


def test_a_recording_longer_than_allowed_is_refused(tmp_path: Path) -> None:
    store = AudioStore(tmp_path / "audio", max_bytes=10_000_000, max_duration_s=2, min_free_bytes=0)
    with pytest.raises(AudioError, match="at most 2 s"):
        store.add_upload(recording(tmp_path, "long.webm", 5, "-c:a", "libopus"))
    assert not list((tmp_path / "audio").glob("*.wav"))


def test_without_ffmpeg_the_hub_says_how_to_install_it(
    sim_area_factory: Callable[..., SimArea], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    webm = recording(tmp_path, "a.webm", 1, "-c:a", "libopus")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    code, body = upload(area, "a.webm", webm, "audio/webm")
    assert code == 503, body
    assert body["code"] == "audio_converter_missing"
    assert "apt-get install ffmpeg" in str(body["detail"])


def test_a_conversion_that_runs_too_long_is_stopped_and_said(tmp_path: Path) -> None:
    webm = recording(tmp_path, "a.webm", 1, "-c:a", "libopus")
    with pytest.raises(RecordingError, match="took longer than 0 s"):
        to_wav(webm, "webm", 900, timeout_s=0.001)
    assert not list(Path(tempfile.gettempdir()).glob("khu-rec-*")), "the temporary folder is removed"
