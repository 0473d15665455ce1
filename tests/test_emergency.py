"""Emergency mode with a confirmation step: alert on every speaker, lights at full, then all restored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.conftest import SimArea, SimTimings
from tests.test_broadcasts import get, post, wait_status
from tests.test_schedules import clock_in, create, levels, runs

SLOW_SPEECH = SimTimings(action_delay_s=0.02, play_duration_s=2.0, heartbeat_s=5.0, motion_per_hour=0.0)


def test_emergency_on_and_off_restores_lights_speakers_and_schedules(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=3, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=SLOW_SPEECH)
    hub = area.hub
    hub.wait_scheduling()
    create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(2), "on": True, "level": 30}])
    hub.wait(lambda: levels(area) == {(True, 30)}, what="timetable step applied")
    normal = post(area, text="Thông báo thường về lịch tiêm chủng.")
    wait_status(area, normal["id"], "playing")

    url = f"/api/v1/areas/{area.code}/emergency"
    body: dict[str, Any] = {"title": "Báo cháy", "text": "Cháy tại ngõ 5. Đề nghị bà con sơ tán ngay."}
    ask = hub.http.post(url, json=body)
    assert ask.status_code == 202
    assert "2 speakers" in ask.json()["summary"]
    assert hub.http.get(url).json()["active"] is False  # nothing happens without the confirmation
    forged = hub.http.post(url, json={**body, "text": "khác", "confirm_token": ask.json()["confirm_token"]})
    assert forged.status_code == 422
    on = hub.http.post(url, json={**body, "confirm_token": ask.json()["confirm_token"]})
    assert on.status_code == 200, on.text
    alert_id = on.json()["announcement_id"]
    assert hub.http.post(url, json=body).status_code == 409  # already on

    hub.wait(lambda: levels(area) == {(True, 100)}, what="every light at full")
    wait_status(area, alert_id, "playing", timeout=5)
    assert get(area, normal["id"])["status"] == "interrupted"
    # A timetable step during the emergency does not dim the lights.
    create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(2), "on": True, "level": 60}])
    hub.wait(lambda: any(r["outcome"] == "suppressed" for r in runs(hub, area.code)), what="step suppressed")
    assert levels(area) == {(True, 100)}
    desired = hub.http.get(f"/api/v1/areas/{area.code}/lights/desired").json()
    assert {d["source"] for d in desired} == {"emergency"}

    off = hub.http.post(f"{url}/end")
    assert off.status_code == 200
    hub.wait(lambda: levels(area) == {(True, 60)}, what="lights back to the timetable's state")
    assert get(area, alert_id)["status"] in ("cancelled", "done")
    log = hub.http.get(f"/api/v1/areas/{area.code}/announcements").json()["items"]
    resumed = next(a for a in log if a["resumes"] == normal["id"])
    wait_status(area, resumed["id"], "done", timeout=15)
    actions = [a["action"] for a in hub.http.get(f"/api/v1/areas/{area.code}/audit").json()["items"]]
    assert "emergency.start" in actions
    assert "emergency.end" in actions
    assert hub.http.post(f"{url}/end").status_code == 409
