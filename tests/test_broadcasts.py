"""Announcements on simulated loudspeakers through a real broker: sync, coverage, priority, proof."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select

from hub.broadcasts.models import Announcement
from hub.broadcasts.playback import finish_if_done
from hub.models import Area
from tests.conftest import SimArea, SimTimings

SPEAK = SimTimings(action_delay_s=0.02, play_duration_s=0.6, heartbeat_s=5.0, motion_per_hour=0.0)


def post(area: SimArea, **body: Any) -> dict[str, Any]:
    r = area.hub.http.post(f"/api/v1/areas/{area.code}/announcements", json={"title": "Thông báo", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def get(area: SimArea, ann_id: str) -> dict[str, Any]:
    data: dict[str, Any] = area.hub.http.get(f"/api/v1/areas/{area.code}/announcements/{ann_id}").json()
    return data


def wait_status(area: SimArea, ann_id: str, wanted: str, timeout: float = 10) -> dict[str, Any]:
    area.hub.wait(
        lambda: get(area, ann_id)["status"] == wanted, timeout=timeout, what=f"announcement {wanted}"
    )
    return get(area, ann_id)


def test_text_announcement_is_rendered_served_played_in_sync_and_logged(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=4, speaker_zones=2, cameras=0, timings=SPEAK)
    zone = area.zone_id("Loa khu 1")
    text = "Thông báo: chiều nay từ 14 giờ đến 16 giờ, khu dân cư tạm ngừng cấp điện để bảo dưỡng."
    ann = post(area, text=text, zone_ids=[zone])
    assert ann["status"] == "queued"
    audio = area.hub.http.get(ann["audio_url"].split("8080", 1)[-1])
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert audio.content[:4] == b"RIFF"
    assert "immutable" in audio.headers["cache-control"]
    assert ann["duration_ms"] > 1000

    done = wait_status(area, ann["id"], "done")
    in_zone = sorted(s.device_id for s in area.specs if s.zone == "Loa khu 1")
    assert sorted(d["device_id"] for d in done["deliveries"]) == in_zone
    cov = done["coverage"]
    assert cov == {**cov, "targeted": len(in_zone), "finished": len(in_zone), "percent": 100.0, "offline": []}
    assert cov["start_spread_ms"] is not None
    assert cov["start_spread_ms"] < 50  # same start time for every speaker of the zone
    assert done["created_by"].startswith("admin")
    for d in done["deliveries"]:
        assert d["status"] == "finished"
    others = [s.device_id for s in area.specs if s.kind == "speaker" and s.zone != "Loa khu 1"]
    assert all(area.fleet.speaker(o).state.announcement is None for o in others)
    audit = area.hub.http.get(
        f"/api/v1/areas/{area.code}/audit", params={"action": "announcement.create"}
    ).json()
    assert audit["total"] == 1


def test_offline_speaker_lowers_coverage_and_is_named(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=3, speaker_zones=1, cameras=0, timings=SPEAK)
    gone = next(s.device_id for s in area.specs if s.kind == "speaker")
    area.fleet.device(gone).go_offline()
    area.hub.wait(
        lambda: (area.hub.device(area.code, gone) or {}).get("online") is False, what="speaker offline"
    )
    ann = post(area, text="Họp tổ dân phố lúc 19 giờ tối nay.")
    done = wait_status(area, ann["id"], "done")
    assert done["coverage"]["offline"] == [gone]
    assert done["coverage"]["finished"] == 2
    assert done["coverage"]["percent"] == 66.7


def test_a_play_order_the_mqtt_link_refuses_fails_that_delivery_with_the_reason(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=3, speaker_zones=1, cameras=0, timings=SPEAK)
    refused = next(s.device_id for s in area.specs if s.kind == "speaker")
    commands = area.hub.runtime.commands
    send = commands._send
    commands._send = lambda order: order.device != refused and send(order)
    try:
        ann = post(area, text="Họp tổ dân phố lúc 19 giờ tối nay.")
        done = wait_status(area, ann["id"], "done")
    finally:
        commands._send = send
    by_device = {d["device_id"]: d for d in done["deliveries"]}
    assert by_device[refused]["status"] == "failed"
    assert by_device[refused]["error"] == "the hub could not queue it for the broker"
    assert done["coverage"]["finished"] == 2


def test_emergency_interrupts_a_normal_announcement_which_then_resumes(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    slow = SimTimings(action_delay_s=0.02, play_duration_s=3.0, heartbeat_s=5.0, motion_per_hour=0.0)
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=slow)
    normal = post(area, text="Thông báo thường: lịch thu gom rác thay đổi.")
    wait_status(area, normal["id"], "playing")
    area.hub.wait(
        lambda: all(d["status"] == "playing" for d in get(area, normal["id"])["deliveries"]),
        what="normal announcement audible",
    )
    urgent = post(area, text="Khẩn cấp: cháy tại ngõ 3, đề nghị bà con sơ tán.", priority="emergency")
    wait_status(area, urgent["id"], "playing", timeout=5)
    interrupted = get(area, normal["id"])
    assert interrupted["status"] == "interrupted"
    assert "emergency" in interrupted["note"]
    log = area.hub.http.get(f"/api/v1/areas/{area.code}/announcements", params={"limit": 10}).json()["items"]
    resumed = next(a for a in log if a["resumes"] == normal["id"])
    assert resumed["status"] == "queued"  # waits for the emergency to end
    wait_status(area, urgent["id"], "done", timeout=15)
    final = wait_status(area, resumed["id"], "done", timeout=15)
    assert final["coverage"]["percent"] == 100.0


def test_priority_goes_before_normal_but_does_not_interrupt(sim_area_factory: Callable[..., SimArea]) -> None:
    slow = SimTimings(action_delay_s=0.02, play_duration_s=1.0, heartbeat_s=5.0, motion_per_hour=0.0)
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=slow)
    first = post(area, text="Một.")
    wait_status(area, first["id"], "playing")
    normal = post(area, text="Hai.")
    priority = post(area, text="Ba, ưu tiên.", priority="priority")
    done_priority = wait_status(area, priority["id"], "done", timeout=15)
    assert get(area, first["id"])["status"] == "done"  # not interrupted
    done_normal = wait_status(area, normal["id"], "done", timeout=15)
    assert done_priority["start_at"] < done_normal["start_at"]


def test_scheduled_announcement_waits_for_its_time(sim_area_factory: Callable[..., SimArea]) -> None:
    from datetime import UTC, datetime, timedelta

    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    # Far enough ahead that rendering the speech on a slow machine does not reach it.
    at = datetime.now(UTC) + timedelta(seconds=4)
    ann = post(area, text="Hẹn giờ.", start_at=at.isoformat())
    assert ann["status"] == "scheduled"
    time.sleep(0.5)
    assert get(area, ann["id"])["status"] == "scheduled"
    done = wait_status(area, ann["id"], "done", timeout=15)
    assert datetime.fromisoformat(done["start_at"]) >= at


def test_a_local_start_time_keeps_its_instant(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    # "19:30+07:00", as a phone in Hà Nội writes it, is 12:30 UTC, not 19:30 UTC.
    at = (datetime.now(UTC) + timedelta(hours=2)).astimezone(timezone(timedelta(hours=7)))
    ann = post(area, text="Họp tổ dân phố.", start_at=at.replace(microsecond=0).isoformat())
    assert datetime.fromisoformat(get(area, ann["id"])["not_before"]) == at.replace(microsecond=0)


def test_uploads_are_validated_and_the_log_exports(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    url = f"/api/v1/areas/{area.code}/audio"
    bad = area.hub.http.post(
        url, files={"file": ("note.txt", b"hello, this is not audio at all" * 4, "text/plain")}
    )
    assert bad.status_code == 422
    assert "WAV, MP3 or OGG" in bad.json()["detail"]
    wav = area.hub.http.get(post(area, text="Kiểm tra.")["audio_url"].split("8080", 1)[-1]).content
    good = area.hub.http.post(url, files={"file": ("a.wav", wav, "audio/wav")})
    assert good.status_code == 201, good.text
    ann = post(area, audio_id=good.json()["id"], title="Tệp ghi âm")
    wait_status(area, ann["id"], "done")
    both = area.hub.http.post(
        f"/api/v1/areas/{area.code}/announcements",
        json={"title": "x", "text": "a", "audio_id": good.json()["id"]},
    )
    assert both.status_code == 422
    exported = area.hub.http.get(f"/api/v1/areas/{area.code}/announcements/export", params={"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
    assert {r["title"] for r in rows} >= {"Tệp ghi âm", "Thông báo"}
    assert exported.headers["content-type"].startswith("text/csv")
    as_json = area.hub.http.get(f"/api/v1/areas/{area.code}/announcements/export", params={"format": "json"})
    assert {a["id"] for a in json.loads(as_json.text)} >= {ann["id"]}


def test_resident_feed_gets_the_announcement_and_a_shared_alert(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    from devices.payloads import Priority
    from hub.models import Role

    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    hub = area.hub
    resident = hub.client_for("cu.dan", hub.add_user("cu.dan", Role.RESIDENT, area.code))
    ann = post(area, title="Cắt nước", text="Sáng mai cắt nước từ 8 giờ đến 11 giờ.")
    wait_status(area, ann["id"], "done")
    feed = resident.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]
    assert [(n["title"], n["ref"]) for n in feed] == [("Cắt nước", ann["id"])]
    # The link works without the app's login too (a text message's "Nghe: …"): it is signed.
    link = feed[0]["audio_url"].split("8080", 1)[-1]
    assert ".wav?t=" in link
    from fastapi.testclient import TestClient

    anonymous = TestClient(hub.http.app)
    assert anonymous.get(link).status_code == 200
    assert anonymous.get(link.split("?", 1)[0]).status_code == 401

    with hub.runtime.sessions() as s:
        from hub.models import Area

        area_id = s.query(Area.id).filter_by(code=area.code).scalar()
    alert = hub.runtime.notifications.notify_staff(area_id, "Camera cổng mất kết nối", "…", Priority.PRIORITY)
    assert all(
        n["title"] != "Camera cổng mất kết nối"
        for n in resident.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]
    )
    shared = hub.http.post(f"/api/v1/areas/{area.code}/notifications/{alert}/share")
    assert shared.status_code == 201, shared.text
    titles = [n["title"] for n in resident.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]]
    assert "Camera cổng mất kết nối" in titles
    assert resident.post(f"/api/v1/areas/{area.code}/notifications/{alert}/share").status_code == 403


def test_speaker_finishing_after_it_was_given_up_on_still_counts(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    long_play = SimTimings(action_delay_s=0.02, play_duration_s=2.5, heartbeat_s=5.0, motion_per_hour=0.0)
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=long_play)
    area.hub.runtime.broadcasts.end_grace = timedelta(milliseconds=100)  # gives up before the speaker ends
    ann = post(area, text="Ngắn.")
    wait_status(area, ann["id"], "failed")
    done = wait_status(area, ann["id"], "done")
    assert done["coverage"]["percent"] == 100.0


def test_a_cancel_between_the_worker_reading_and_finishing_an_announcement_stays_cancelled(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    long_play = SimTimings(action_delay_s=0.02, play_duration_s=5.0, heartbeat_s=5.0, motion_per_hour=0.0)
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=long_play)
    ann = post(area, text="Dài.")
    wait_status(area, ann["id"], "playing")
    runtime = area.hub.runtime
    with runtime.sessions() as session:
        place = session.scalars(select(Area).where(Area.code == area.code)).one()
    # The worker's tick has read the announcement as playing when the area head's cancel (or
    # the end of an emergency) commits; then the tick finds no delivery open and none played.
    with runtime.sessions.begin() as session:
        playing = session.get(Announcement, ann["id"])
        assert playing is not None
        assert playing.status == "playing"
        runtime.broadcasts.cancel(place, ann["id"])
        finish_if_done(session, playing, datetime.now(UTC), runtime.broadcasts.end_grace)
    stopped = get(area, ann["id"])
    assert stopped["status"] == "cancelled"
    assert {d["status"] for d in stopped["deliveries"]} == {"stopped"}


def test_speakers_stopped_by_a_stop_order_end_the_announcement_cancelled_with_what_played(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    long_play = SimTimings(action_delay_s=0.02, play_duration_s=30.0, heartbeat_s=5.0, motion_per_hour=0.0)
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=long_play)
    text = "Thông báo: chiều nay từ 14 giờ đến 16 giờ, khu dân cư tạm ngừng cấp điện để bảo dưỡng đường dây."
    ann = post(area, text=text)
    assert ann["duration_ms"] > 3000
    area.hub.wait(
        lambda: {d["status"] for d in get(area, ann["id"])["deliveries"]} == {"playing"},
        timeout=20,
        what="both speakers playing",
    )
    time.sleep(0.3)
    stop = area.hub.http.post(
        f"/api/v1/areas/{area.code}/commands",
        json={"target": {"area": True}, "action": {"type": "speaker.stop"}},
    )
    assert stop.status_code == 200, stop.text
    ended = wait_status(area, ann["id"], "cancelled", timeout=20)
    assert {d["status"] for d in ended["deliveries"]} == {"stopped"}
    cov = ended["coverage"]
    speakers = sorted(s.device_id for s in area.specs if s.kind == "speaker")
    assert cov == {**cov, "targeted": 2, "started": 2, "finished": 0, "failed": [], "offline": []}
    assert sorted(cov["stopped"]) == speakers
    assert 0 < cov["played_percent"] < 100  # what played until the stop
    assert "stop" in ended["note"]
