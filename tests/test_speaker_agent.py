"""``khu-speaker`` for real: two agents on this machine, enrolled through the hub and the broker,
fetching audio over HTTP with the play's token and sounding it on ALSA's ``null`` device.

The agents run as the systemd unit runs them (``khu-speaker run``, here ``python -m``), with a
stand-in ``chronyc`` on their PATH that reports a synchronised clock (this container has no
time daemon); the clock-reading code is the real one. The hub serves HTTP on a real port.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from devices.messages import Outbound
from devices.mqtt_client import LinkConfig, MqttLink
from hub.broker.process import Broker, free_port
from tests.conftest import HubHarness, make_area
from tests.web_helpers import LiveServer

pytestmark = pytest.mark.skipif(
    shutil.which("aplay") is None or shutil.which("sox") is None,
    reason="needs aplay and sox: scripts/setup.sh installs alsa-utils, sox and libsox-fmt-mp3",
)
ROOT = Path(__file__).resolve().parent.parent
# chronyc -c tracking of a clock synchronised to a stratum-2 server, 0.8 ms slow.
TRACKING = "C0A80001,ntp.lan,2,1748863800.1,0.000800,-0.0001,0.0002,-6.5,0.0,0.02,0.002,0.0004,64.0,Normal"
CHRONYC = f"#!/bin/sh\necho '{TRACKING}'\n"
LONG = (
    "Thông báo của tổ dân phố: sáng mai từ bảy giờ đến mười một giờ, công ty điện lực bảo dưỡng "
    "đường dây, khu dân cư tạm ngừng cấp điện. Đề nghị bà con chủ động sắp xếp công việc."
)


@dataclass
class Agent:
    device: str
    config: Path
    cache: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def saved_state(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads((self.cache / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return data


class Speakers:
    """The agents' processes and what they share: the PATH with the stand-in chronyc."""

    def __init__(self, tmp: Path, broker: Broker) -> None:
        self.tmp = tmp
        self.broker = broker
        bin_dir = tmp / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "chronyc").write_text(CHRONYC)
        (bin_dir / "chronyc").chmod(0o755)
        self.env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PYTHONUNBUFFERED": "1"}
        self.agents: list[Agent] = []

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "devices.speaker_agent", *args]
        return subprocess.run(
            argv, cwd=ROOT, env={**self.env, **env}, capture_output=True, text=True, timeout=60, check=False
        )

    def enrol(self, area: str, device: str, enrol_password: str) -> tuple[str, Path]:
        """``khu-speaker enrol --no-wait``: the device id and its configuration file."""
        config, cache = self.tmp / device / "speaker.toml", self.tmp / device / "cache"
        broker = f"127.0.0.1:{self.broker.port}"
        done = self.cli(
            *("--config", str(config), "enrol", broker, area, "--device", device),
            *("--alsa-device", "null", "--cache-dir", str(cache), "--clock-source", "chrony", "--no-wait"),
            KHU_ENROL_PASSWORD=enrol_password,
        )
        assert done.returncode == 0, done.stderr
        return device, config

    def run(self, device: str, config: Path) -> Agent:
        """``khu-speaker run``, as its systemd unit starts it; its cache beside its configuration."""
        argv = [sys.executable, "-m", "devices.speaker_agent", "--config", str(config), "run"]
        log = config.parent / "agent.log"
        with log.open("ab") as out:
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        agent = Agent(device, config, config.parent / "cache", log, proc)
        self.agents.append(agent)
        return agent

    def stop(self) -> None:
        for agent in self.agents:
            if agent.proc.poll() is None:
                agent.proc.terminate()
                try:
                    agent.proc.wait(10)
                except subprocess.TimeoutExpired:
                    agent.proc.kill()


@pytest.fixture
def speakers(tmp_path: Path, broker: Broker) -> Iterator[Speakers]:
    s = Speakers(tmp_path / "speakers", broker)
    yield s
    s.stop()


class Site:
    """A hub with HTTP on a real port (the agents fetch audio from it) and one area."""

    def __init__(self, hub_factory: Callable[..., HubHarness], broker: Broker, code: str) -> None:
        self.factory, self.broker, self.code = hub_factory, broker, code
        self.port = free_port()
        self.hub = self._start()
        make_area(self.hub, code)

    def _start(self, **overrides: Any) -> HubHarness:
        # A lead of 1.5 s: two agents, the hub and the broker share this machine's two cores.
        hub = self.factory(self.broker, http_port=self.port, broadcast_sync_lead_ms=1500, **overrides)
        self.server = LiveServer(cast(FastAPI, hub.http.app))
        self.server.port, self.server.url = self.port, f"http://127.0.0.1:{self.port}"
        self.server.start()
        return hub

    def down(self) -> str:
        """The hub process goes away (its HTTP too); returns its client id, to come back with."""
        self.server.stop()
        self.hub.runtime.stop()
        return self.hub.settings.mqtt_client_id

    def up(self, client_id: str) -> None:
        """The hub comes back on the same database and broker session."""
        self.hub = self._start(mqtt_client_id=client_id)

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        r = self.hub.http.request(method, f"/api/v1/areas/{self.code}{path}", **kwargs)
        assert r.status_code < 300, r.text
        return r.json() if r.content else None

    def announce(self, text: str, zone: int, priority: str = "normal") -> str:
        body = {"title": "Thông báo", "text": text, "zone_ids": [zone], "priority": priority}
        ann_id: str = self.api("POST", "/announcements", json=body)["id"]
        return ann_id

    def announcement(self, ann_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self.api("GET", f"/announcements/{ann_id}")
        return data

    def wait_status(self, ann_id: str, status: str, timeout: float = 30) -> dict[str, Any]:
        self.hub.wait(
            lambda: self.announcement(ann_id)["status"] == status, timeout, f"announcement {status}"
        )
        return self.announcement(ann_id)

    def wait_playing(self, ann_id: str) -> None:
        self.hub.wait(
            lambda: {d["status"] for d in self.announcement(ann_id).get("deliveries") or []} == {"playing"},
            timeout=30,
            what="both speakers playing",
        )

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture
def site(hub_factory: Callable[..., HubHarness], broker: Broker, area_code: str) -> Iterator[Site]:
    s = Site(hub_factory, broker, area_code)
    yield s
    s.stop()


def _has(site: Site, device: str, key: str, value: object) -> bool:
    return bool((site.hub.device(site.code, device) or {}).get(key) == value)


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)


def _says(agent: Agent, text: str) -> bool:
    return text in agent.output()


def _finished(agent: Agent) -> bool:
    return agent.saved_state().get("playback") == "finished"


def _enrol_two(site: Site, speakers: Speakers) -> tuple[int, list[Agent]]:
    """Both speakers enrol, wait (refused) until the head accepts them into the zone, connect."""
    zone: int = site.api("POST", "/zones", json={"name": "Loa khu 1"})["id"]
    window = site.api("POST", "/enrolment", json={"minutes": 10})
    agents = [speakers.run(*speakers.enrol(site.code, d, window["password"])) for d in ("loa-1", "loa-2")]
    for a in agents:
        site.hub.wait(partial(_has, site, a.device, "status", "pending"), what=f"{a.device} pending")
        # Refused until accepted, as expected while enrolling: it says so and keeps trying.
        site.hub.wait(partial(_says, a, "waiting for the area head to accept"), what=f"{a.device} waiting")
    for a in agents:
        accepted = site.api("POST", f"/devices/{a.device}/accept", json={"zone_id": zone})
        assert accepted["mqtt"]["username"] == f"{site.code}.{a.device}"
    for a in agents:
        site.hub.wait(partial(_has, site, a.device, "online", True), 30, f"{a.device} online")
        assert (a.config.stat().st_mode & 0o777) == 0o600
        assert "accepted = true" in a.config.read_text()  # saved once let in
    return zone, agents


def test_two_agents_play_in_step_stop_yield_to_an_emergency_and_survive_a_hub_restart(
    site: Site, speakers: Speakers, record_property: Callable[[str, object], None]
) -> None:
    zone, agents = _enrol_two(site, speakers)
    loa1 = site.hub.device(site.code, "loa-1") or {}
    assert loa1["capabilities"] == ["play", "stop", "volume", "sync_start"]
    assert loa1["model"] == "khu-speaker"
    record_property("start_spread_ms", _plays_in_step(site, zone))
    _audio_needs_the_plays_token(site)
    _stops(site, zone)
    _emergency_pre_empts_and_normal_resumes(site, zone)
    _hub_restarted_mid_play(site, zone, agents)
    _refused_account_stops_the_retries(site, agents)


def _plays_in_step(site: Site, zone: int) -> float:
    """A text announcement to the zone: both start at start_at and report their real starts."""
    ann = site.announce("Xin chào bà con, đây là bản tin thử loa.", zone)
    done = site.wait_status(ann, "done")
    start_at = _ms(done["start_at"])  # the play carries it in whole milliseconds
    deliveries = {d["device_id"]: d for d in done["deliveries"]}
    assert set(deliveries) == {"loa-1", "loa-2"}
    for d in deliveries.values():
        assert d["status"] == "finished", d
        assert _ms(d["started_at"]) >= start_at  # the proof of broadcast: each speaker's real start
        assert d["finished_at"] > d["started_at"]
        assert d["clock_synced"] is True
        assert d["clock_offset_ms"] == pytest.approx(-0.8)
    spread: float = done["coverage"]["start_spread_ms"]
    assert spread is not None
    print(f"\nstart spread of two khu-speaker agents: {spread:.1f} ms (target 20 ms)")
    return spread


def _audio_needs_the_plays_token(site: Site) -> None:
    """The play carried a token: the file is refused without it, or with another file's."""
    commands = site.api("GET", "/commands", params={"limit": 50})["items"]
    url = next(c["params"]["url"] for c in commands if c["action"] == "speaker.play")
    plain, query = url.split("?", 1)
    assert httpx.get(plain).status_code == 401
    assert httpx.get(plain, params={"t": "not-a-token"}).status_code == 403
    other = site.hub.runtime.audio.render_tts("Tệp khác.", "vi").filename
    assert httpx.get(f"{plain.rsplit('/', 1)[0]}/{other}?{query}").status_code == 403
    fetched = httpx.get(url)
    assert fetched.status_code == 200
    assert fetched.content[:4] == b"RIFF"
    assert fetched.headers["cache-control"].startswith("private")


def _stops(site: Site, zone: int) -> None:
    """Both speakers confirm a stop order; the announcement ends cancelled."""
    ann = site.announce(LONG, zone)
    site.wait_playing(ann)
    action = {"type": "speaker.stop"}
    stop = site.api(
        "POST", "/commands", json={"target": {"zone_id": zone}, "action": action, "wait_ms": 5000}
    )
    assert {r["status"] for r in stop["results"]} == {"confirmed"}
    ended = site.wait_status(ann, "cancelled")
    assert {d["status"] for d in ended["deliveries"]} == {"stopped"}


def _emergency_pre_empts_and_normal_resumes(site: Site, zone: int) -> None:
    normal = site.announce(LONG, zone)
    site.wait_playing(normal)
    urgent = site.announce("Khẩn cấp: cháy tại ngõ ba, đề nghị bà con sơ tán.", zone, priority="emergency")
    interrupted = site.wait_status(normal, "interrupted")
    assert {d["status"] for d in interrupted["deliveries"]} == {"interrupted"}
    site.wait_status(urgent, "done")
    log = site.api("GET", "/announcements", params={"limit": 10})["items"]
    resumed = next(a["id"] for a in log if a["resumes"] == normal)
    assert site.wait_status(resumed, "done", timeout=60)["coverage"]["percent"] == 100.0


def _hub_restarted_mid_play(site: Site, zone: int, agents: list[Agent]) -> None:
    """The hub goes away mid-play: the speakers play on, and it learns how it went when back."""
    ann = site.announce(LONG, zone)
    site.wait_playing(ann)
    client_id = site.down()
    for a in agents:
        site.hub.wait(partial(_finished, a), 60, f"{a.device} finished while the hub was away")
    site.up(client_id)
    after = site.wait_status(ann, "done")
    assert {d["status"] for d in after["deliveries"]} == {"finished"}
    assert all(d["started_at"] and d["finished_at"] for d in after["deliveries"])


def _refused_account_stops_the_retries(site: Site, agents: list[Agent]) -> None:
    """A renewed account refuses the old password: the agent says so once and stops retrying."""
    renewed = site.api("POST", "/devices/loa-2/credentials")
    assert renewed["device_id"] == "loa-2"
    assert renewed["mqtt"]["username"] == f"{site.code}.loa-2"
    assert agents[1].proc.wait(30) == 3
    assert agents[1].output().count("not retrying") == 1
    assert agents[0].proc.poll() is None


def test_config_clock_and_capabilities_without_a_running_agent(tmp_path: Path) -> None:
    from devices.speaker_agent import config as cfg
    from devices.speaker_agent.agent import capabilities
    from devices.speaker_agent.clock import parse_chrony, parse_timesyncd, probe

    unsynced = parse_chrony("00000000,,0,0.000000000,0.000000000,0,0,0,0,0,1,1,0.0,Not synchronised")
    assert not unsynced.synced
    assert capabilities(unsynced) == ["play", "stop", "volume"]
    synced = parse_chrony(TRACKING)
    assert synced.synced
    assert synced.offset_ms == pytest.approx(-0.8)
    assert parse_timesyncd("yes\n", "       Offset: -1.5ms\n").offset_ms == pytest.approx(1.5)
    assert probe("none").synced is False

    path = tmp_path / "etc" / "speaker.toml"
    config = cfg.AgentConfig(host="hub.lan", area="kp3", device="loa-01", password='p"\\w', port=8883)
    cfg.save(config, path)
    assert (path.stat().st_mode & 0o777) == 0o600
    assert cfg.load(path) == config
    path.write_text(path.read_text().replace("port = 8883", 'port = "8883"'))
    with pytest.raises(cfg.ConfigError, match="port"):
        cfg.load(path)
    example = cfg.load(ROOT / "devices" / "speaker_agent" / "speaker.example.toml")
    assert example.username == "kp3.loa-01"


def test_no_play_with_a_loopback_address_when_speakers_are_elsewhere(
    hub_factory: Callable[..., HubHarness], broker: Broker, area_code: str
) -> None:
    # Devices are told to dial the broker on the LAN, but KHU_PUBLIC_URL is unset: the audio
    # address would be http://127.0.0.1:…, which no speaker on another machine can fetch.
    hub = hub_factory(broker, mqtt_device_host="10.20.0.2")
    make_area(hub, area_code)
    r = hub.http.post(f"/api/v1/areas/{area_code}/devices", json={"device_id": "loa-1", "kind": "speaker"})
    assert r.status_code == 201, r.text
    account = r.json()["mqtt"]
    assert account["host"] == "10.20.0.2"
    link = MqttLink(
        LinkConfig("127.0.0.1", broker.port, account["client_id"], account["username"], account["password"])
    )
    link.start()
    try:
        assert link.wait_connected(5)
        info = b'{"kind":"speaker","model":"LTM-30","firmware":"3.2.0","capabilities":["play"]}'
        link.publish(Outbound(f"khu/v1/{area_code}/loa-1/info", info, qos=1, retain=True))
        link.publish(Outbound(f"khu/v1/{area_code}/loa-1/status", b"online", qos=1, retain=True))
        hub.wait(lambda: (hub.device(area_code, "loa-1") or {}).get("online") is True, what="speaker online")
        r = hub.http.post(f"/api/v1/areas/{area_code}/announcements", json={"title": "x", "text": "Thử loa."})
        assert r.status_code == 201, r.text
        ann = r.json()["id"]
        url = f"/api/v1/areas/{area_code}/announcements/{ann}"
        hub.wait(lambda: hub.http.get(url).json()["status"] == "failed", what="announcement failed")
        (delivery,) = hub.http.get(url).json()["deliveries"]
        assert delivery["status"] == "failed"
        assert "KHU_PUBLIC_URL" in delivery["error"]
        commands = hub.http.get(f"/api/v1/areas/{area_code}/commands").json()["items"]
        assert not [c for c in commands if c["action"] == "speaker.play"]  # nothing was sent
    finally:
        link.stop()


def test_the_agent_decodes_wav_mp3_ogg_and_a_software_volume(tmp_path: Path) -> None:
    from devices.speaker_agent.audio import AudioCache, AudioError

    cache = AudioCache(tmp_path, 10**8, 10**8, 5)
    wav = tmp_path / "a.wav"
    subprocess.run(["espeak-ng", "-v", "vi", "-w", str(wav), "Thử loa."], check=True)
    files = [wav]
    for ext in ("mp3", "ogg"):
        files.append(tmp_path / f"a.{ext}")
        subprocess.run(["sox", str(wav), str(files[-1])], check=True)
    if shutil.which("opusenc") and shutil.which("opusdec"):  # what a browser records (opus-tools)
        files.append(tmp_path / "b.ogg")
        subprocess.run(["opusenc", "--quiet", str(wav), str(files[-1])], check=True)
    lengths = {f.name: cache.decode(f).duration_ms for f in files}
    reference = lengths["a.wav"]
    assert reference > 300
    for name, ms in lengths.items():  # the encoders pad a little, never much
        assert abs(ms - reference) < 150, (name, ms, reference)
    quiet = cache.decode(files[1], gain_percent=30)
    assert quiet.path != cache.decode(files[1]).path
    (tmp_path / "junk.mp3").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(AudioError, match="unsupported audio format"):
        cache.decode(tmp_path / "junk.mp3")


def test_an_account_given_directly_and_refused_is_not_retried(speakers: Speakers, area_code: str) -> None:
    config = speakers.tmp / "given" / "speaker.toml"
    broker = f"127.0.0.1:{speakers.broker.port}"
    args = ("--config", str(config), "account", broker, area_code, "--device", "loa-9")
    done = speakers.cli(
        *args, "--cache-dir", str(speakers.tmp / "given"), KHU_SPEAKER_PASSWORD="wrong-password"
    )
    assert done.returncode == 0, done.stderr
    assert (config.stat().st_mode & 0o777) == 0o600
    agent = speakers.run("loa-9", config)
    assert agent.proc.wait(30) == 3
    assert agent.output().count("not retrying") == 1
