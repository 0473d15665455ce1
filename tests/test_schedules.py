"""Lighting timetables through the API, fired by APScheduler, against simulated lights on a real broker."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from datetime import time as time_of
from typing import Any
from zoneinfo import ZoneInfo

from hub.broker.process import Broker
from tests.conftest import HubHarness, SimArea

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def clock_in(seconds: float) -> str:
    """Local wall-clock time ``seconds`` from now, as a step's ``at``."""
    return (datetime.now(TZ) + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def create(hub: HubHarness, area: str, **body: Any) -> dict[str, Any]:
    r = hub.http.post(f"/api/v1/areas/{area}/timetables", json={"name": "test", **body})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def levels(area: SimArea) -> set[tuple[bool, int]]:
    return {
        (d.state.on, d.state.level)
        for s in area.specs
        if s.kind == "light"
        for d in [area.fleet.device(s.device_id)]
    }  # type: ignore[union-attr]


def runs(hub: HubHarness, area: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = hub.http.get(f"/api/v1/areas/{area}/schedule/runs", params=params).json()[
        "items"
    ]
    return items


def test_short_interval_timetable_fires_and_switches_simulated_lights(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=4, streets=2)
    hub = area.hub
    hub.wait_scheduling()
    tt = create(
        hub,
        area.code,
        steps=[
            # Whole seconds, so up to one second nearer than asked: room for a slow machine.
            {"trigger": "clock", "at": clock_in(4), "on": True, "level": 80},
            {"trigger": "clock", "at": clock_in(7), "on": True, "level": 20},
        ],
    )
    assert tt["next_run"] is not None
    hub.wait(lambda: levels(area) == {(True, 80)}, what="first step applied to every light")
    hub.wait(lambda: levels(area) == {(True, 20)}, what="second step applied")
    done = runs(hub, area.code)
    assert [r["outcome"] for r in done] == ["done", "done"]
    audit_free = hub.http.get(f"/api/v1/areas/{area.code}/commands", params={"limit": 100}).json()
    assert all(c["status"] == "confirmed" for c in audit_free["items"])


def test_edits_and_deletes_while_the_scheduler_runs(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, streets=1)
    hub = area.hub
    hub.wait_scheduling()
    kept = create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(30), "on": True, "level": 40}])
    doomed = create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(2), "on": True, "level": 5}])
    url = f"/api/v1/areas/{area.code}/timetables"
    for level in (41, 42, 70):  # several edits: still exactly one job
        r = hub.http.patch(
            f"{url}/{kept['id']}",
            json={"steps": [{"trigger": "clock", "at": clock_in(2.5), "on": True, "level": level}]},
        )
        assert r.status_code == 200, r.text
    assert hub.http.delete(f"{url}/{doomed['id']}").status_code == 204
    hub.wait(lambda: levels(area) == {(True, 70)}, what="edited step fired")
    time.sleep(0.5)
    assert levels(area) == {(True, 70)}  # the deleted timetable never fired
    jobs = [j.id for j in hub.runtime.schedules._scheduler.get_jobs()]  # type: ignore[union-attr]
    assert jobs == [f"lighting-{kept['id']}"]
    assert [r["schedule_id"] for r in runs(hub, area.code)] == [kept["id"]]
    paused = hub.http.patch(f"{url}/{kept['id']}", json={"enabled": False}).json()
    assert paused["enabled"] is False
    hub.wait(lambda: not hub.runtime.schedules._scheduler.get_jobs(), what="paused job removed")  # type: ignore[union-attr]


def test_restart_runs_a_missed_step_within_grace_and_records_one_outside_it(
    broker: Broker,
    sim_area_factory: Callable[..., SimArea],
    hub_factory: Callable[..., HubHarness],
) -> None:
    area = sim_area_factory(lights=2, streets=1)
    first = area.hub
    first.wait_scheduling()
    # Both times are fixed before anything is created, so a slow machine cannot reorder them;
    # the lenient step is the later one, so it is also what the lights should end at. The
    # first hub must be down before the strict step's job fires (half a second early): two
    # creations and a stop took over 1.5 s on a slow machine.
    strict_at, lenient_at = clock_in(5), clock_in(7)
    strict = create(
        first,
        area.code,
        misfire="skip",
        steps=[{"trigger": "clock", "at": strict_at, "on": True, "level": 10}],
    )
    lenient = create(
        first,
        area.code,
        misfire="run_late",
        grace_s=60,
        steps=[{"trigger": "clock", "at": lenient_at, "on": True, "level": 60}],
    )
    first.runtime.stop()  # down over both steps
    lenient_time = datetime.combine(datetime.now(TZ).date(), time_of.fromisoformat(lenient_at), TZ)
    while datetime.now(TZ) < lenient_time + timedelta(seconds=3):  # "late" means over 2 s
        time.sleep(0.1)
    second = hub_factory(broker)
    second.wait(lambda: len(runs(second, area.code)) == 2, what="both firings accounted for")
    outcomes = {r["schedule_id"]: r["outcome"] for r in runs(second, area.code)}
    assert outcomes == {lenient["id"]: "late", strict["id"]: "missed"}
    missed = runs(second, area.code, outcome="missed")
    assert [r["schedule_id"] for r in missed] == [strict["id"]]
    second.wait(lambda: levels(area) == {(True, 60)}, timeout=20, what="late step applied")
    time.sleep(1)
    assert len(runs(second, area.code)) == 2  # nothing ran twice


def test_second_hub_on_same_database_is_standby_until_the_first_stops(
    broker: Broker,
    hub: HubHarness,
    hub_factory: Callable[..., HubHarness],
) -> None:
    hub.wait(lambda: hub.runtime.schedules.active, what="first hub active")
    standby = hub_factory(broker)
    time.sleep(1)
    assert not standby.runtime.schedules.active
    assert hub.runtime.schedules.active
    hub.runtime.stop()
    standby.wait(lambda: standby.runtime.schedules.active, timeout=10, what="standby took over")


def test_light_back_online_and_hub_restart_reapply_desired_state(
    broker: Broker,
    sim_area_factory: Callable[..., SimArea],
    hub_factory: Callable[..., HubHarness],
) -> None:
    area = sim_area_factory(lights=2, streets=1)
    hub = area.hub
    hub.wait_scheduling()
    create(hub, area.code, steps=[{"trigger": "clock", "at": clock_in(2), "on": True, "level": 55}])
    hub.wait(lambda: levels(area) == {(True, 55)}, what="step applied")
    light_id = next(s.device_id for s in area.specs if s.kind == "light")
    light = area.fleet.light(light_id)
    light.go_offline()
    hub.wait(lambda: (hub.device(area.code, light_id) or {}).get("online") is False, what="light offline")
    light.power_cut(on=True, level=100)
    light.come_back()
    hub.wait(lambda: area.fleet.device(light_id).state.level == 55, what="desired state re-applied on return")
    desired = hub.http.get(f"/api/v1/areas/{area.code}/lights/desired").json()
    assert {d["level"] for d in desired} == {55}
    assert {d["source"] for d in desired} == {"timetable"}
    # The hub goes down; meanwhile a power cut resets a lamp; the restarted hub puts it right.
    hub.runtime.stop()
    light.power_cut(on=True, level=100)
    light.report_state()
    again = hub_factory(broker)
    again.wait(
        lambda: area.fleet.device(light_id).state.level == 55, what="desired state re-applied after restart"
    )
    url = f"/api/v1/areas/{area.code}/commands"

    def confirmed() -> bool:
        latest = again.http.get(url, params={"device_id": light_id}).json()["items"][0]
        return bool(latest["status"] == "confirmed" and latest["source"] == "restore")

    again.wait(confirmed, what="the re-applying command confirmed")


def test_preview_shows_tonights_sun_steps_at_local_times(hub: HubHarness, area_code: str) -> None:
    from tests.conftest import make_area

    make_area(hub, area_code)
    create(
        hub,
        area_code,
        steps=[
            {"trigger": "sunset", "offset_min": -15, "on": True, "level": 100},
            {"trigger": "clock", "at": "23:00", "on": True, "level": 50},
            {"trigger": "sunrise", "offset_min": 10, "on": False},
        ],
    )
    items = hub.http.get(f"/api/v1/areas/{area_code}/schedule/preview", params={"hours": 24}).json()
    assert len(items) == 3
    by_step = {i["step"]: i for i in items}
    sunset = datetime.fromisoformat(by_step["sunset - 15 min"]["sun_event_at"])
    at = datetime.fromisoformat(by_step["sunset - 15 min"]["local_time"])
    assert sunset.utcoffset() == timedelta(hours=7)
    assert abs((sunset - timedelta(minutes=15) - at).total_seconds()) < 60
    assert 16 <= sunset.hour <= 19  # Hà Nội sunsets fall between about 17:10 and 18:45
    assert by_step["23:00"]["local_time"].endswith("23:00+07:00")
    assert by_step["sunrise + 10 min"]["action"] == "off"
    bad = hub.http.post(
        f"/api/v1/areas/{area_code}/timetables",
        json={"name": "x", "steps": [{"trigger": "sunset", "at": "18:00", "on": True}]},
    )
    assert bad.status_code == 422
    assert "offset_min" in bad.text


def test_zones_due_at_the_same_instant_fire_together_and_only_once(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=4, streets=2)
    hub = area.hub
    hub.wait_scheduling()
    lights = hub.http.get(f"/api/v1/areas/{area.code}/devices", params={"kind": "light"}).json()["items"]
    zone_ids = sorted({d["zone_id"] for d in lights})
    assert len(zone_ids) == 2
    step = {"trigger": "clock", "at": clock_in(4), "on": True, "level": 60}
    ids = [create(hub, area.code, zone_id=z, steps=[step])["id"] for z in zone_ids]
    hub.wait(lambda: levels(area) == {(True, 60)}, what="both zones switched")
    hub.wait(lambda: len(runs(hub, area.code)) == 2, what="one run per timetable")
    sent = hub.http.get(f"/api/v1/areas/{area.code}/commands", params={"limit": 100}).json()["total"]
    for tid in ids:  # a retried job finds its step already recorded: nothing runs twice
        hub.runtime.schedules.fire_lighting(tid)
    assert [r["outcome"] for r in runs(hub, area.code)] == ["done", "done"]
    assert hub.http.get(f"/api/v1/areas/{area.code}/commands", params={"limit": 100}).json()["total"] == sent


def test_a_step_is_worked_out_ahead_and_sent_at_its_instant_never_before(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=2, streets=1)
    hub = area.hub
    hub.wait_scheduling()
    lead = timedelta(milliseconds=hub.settings.timetable_lead_ms)
    assert lead > timedelta(0)
    at = clock_in(4)
    planned = datetime.combine(datetime.now(TZ).date(), time_of.fromisoformat(at), TZ)
    tt = create(hub, area.code, steps=[{"trigger": "clock", "at": at, "on": True, "level": 35}])
    # The phone is told the step's own instant; the job itself fires the lead before it.
    assert datetime.fromisoformat(tt["next_run"]) == planned
    job = hub.runtime.schedules._scheduler.get_job(f"lighting-{tt['id']}")  # type: ignore[union-attr]
    assert job.next_run_time == planned - lead
    hub.wait(lambda: levels(area) == {(True, 35)}, what="step applied")
    (run,) = runs(hub, area.code)
    assert datetime.fromisoformat(run["planned_at"]) == planned
    assert datetime.fromisoformat(run["ran_at"]) >= planned
    sent = hub.http.get(f"/api/v1/areas/{area.code}/commands", params={"limit": 100}).json()["items"]
    assert len(sent) == 2
    assert all(datetime.fromisoformat(c["sent_at"]) >= planned for c in sent)
