"""Broadcast programmes fired by APScheduler into real announcements on simulated speakers."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hub.broker.process import Broker
from tests.conftest import HubHarness, SimArea, SimTimings
from tests.test_broadcasts import wait_status
from tests.test_schedules import TZ, clock_in, runs

SPEAK = SimTimings(action_delay_s=0.02, play_duration_s=0.5, heartbeat_s=5.0, motion_per_hour=0.0)


def create(hub: HubHarness, area: str, **body: Any) -> dict[str, Any]:
    r = hub.http.post(
        f"/api/v1/areas/{area}/programmes", json={"name": "Bản tin", "title": "Bản tin sáng", **body}
    )
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


def announcements(hub: HubHarness, area: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = hub.http.get(f"/api/v1/areas/{area}/announcements").json()["items"]
    return items


def test_daily_programme_fires_once_and_plays_on_the_speakers(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0, timings=SPEAK)
    hub = area.hub
    hub.wait_scheduling()
    programme = create(
        hub, area.code, recurrence="daily", at=clock_in(4), text="Bản tin buổi sáng của phường."
    )
    assert programme["next_run"] is not None
    preview = hub.http.get(f"/api/v1/areas/{area.code}/schedule/preview", params={"hours": 25}).json()
    assert [p["kind"] for p in preview].count("broadcast") == 2  # today's and tomorrow's
    hub.wait(lambda: len(announcements(hub, area.code)) == 1, what="programme fired")
    (ann,) = announcements(hub, area.code)
    assert ann["source"] == "programme"
    done = wait_status(area, ann["id"], "done")
    assert done["coverage"]["percent"] == 100.0
    time.sleep(1)
    assert len(announcements(hub, area.code)) == 1  # once
    assert [r["outcome"] for r in runs(hub, area.code)] == ["done"]
    bad = hub.http.post(
        f"/api/v1/areas/{area.code}/programmes",
        json={"name": "x", "title": "x", "text": "x", "recurrence": "cron", "cron": "61 * * * *"},
    )
    assert bad.status_code == 422
    assert "cron" in bad.json()["detail"]


def test_programme_missed_while_down_is_recorded_and_reported(
    broker: Broker,
    sim_area_factory: Callable[..., SimArea],
    hub_factory: Callable[..., HubHarness],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    first = area.hub
    first.wait_scheduling()
    # Far enough ahead that the first hub is down before it, even on a slow machine.
    at = datetime.now(TZ) + timedelta(seconds=4)
    missed = create(
        first,
        area.code,
        recurrence="once",
        on_date=at.date().isoformat(),
        at=at.strftime("%H:%M:%S"),
        misfire="skip",
        text="Thông báo sẽ bị lỡ.",
    )
    first.runtime.stop()
    while datetime.now(TZ) < at + timedelta(seconds=2):  # past its time and its 1 s grace
        time.sleep(0.1)
    second = hub_factory(broker)
    second.wait(lambda: any(r["outcome"] == "missed" for r in runs(second, area.code)), what="miss recorded")
    (run,) = runs(second, area.code, outcome="missed")
    assert run["schedule_kind"] == "programme"
    assert run["schedule_id"] == missed["id"]
    assert announcements(second, area.code) == []  # skipped, not played late

    def told() -> int:
        feed = second.http.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]
        return sum("bị lỡ" in n["title"] for n in feed)

    second.wait(lambda: told() > 0, what="the area head is told about the missed broadcast")
    # The one-off is over: later passes of the scheduler (every 0.2 s here) neither find it
    # missed again nor tell the area head again.
    time.sleep(1.5)
    assert told() == 1
    assert len(runs(second, area.code)) == 1


def test_one_off_programme_plays_once_and_is_not_reported_missed_afterwards(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    hub = area.hub
    hub.wait_scheduling()
    on_date = (datetime.now(TZ) + timedelta(seconds=4)).date().isoformat()
    create(hub, area.code, recurrence="once", on_date=on_date, at=clock_in(4), text="Một lần thôi.")
    hub.wait(lambda: len(announcements(hub, area.code)) == 1, what="programme fired")
    time.sleep(1.5)  # several passes of the scheduler (every 0.2 s here)
    assert [r["outcome"] for r in runs(hub, area.code)] == ["done"]
    feed = hub.http.get(f"/api/v1/areas/{area.code}/notifications").json()["items"]
    assert not any("bị lỡ" in n["title"] for n in feed)
    assert len(announcements(hub, area.code)) == 1


def test_a_finished_one_off_allowed_to_run_late_is_not_submitted_to_the_scheduler_again(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0, timings=SPEAK)
    hub = area.hub
    hub.wait_scheduling()
    at = datetime.now(TZ) + timedelta(seconds=4)
    programme = create(
        hub,
        area.code,
        recurrence="once",
        on_date=at.date().isoformat(),
        at=at.strftime("%H:%M:%S"),
        misfire="run_late",
        grace_s=600,
        text="Một lần, được phát muộn.",
    )
    job = f"programme-{programme['id']}"
    scheduler: Any = hub.runtime.schedules._scheduler
    submitted: list[str] = []
    add_job = scheduler.add_job

    def counting(*args: Any, **kwargs: Any) -> Any:
        submitted.append(kwargs.get("id", ""))
        return add_job(*args, **kwargs)

    scheduler.add_job = counting
    try:
        hub.wait(lambda: len(announcements(hub, area.code)) == 1, what="programme fired")
        hub.wait(lambda: scheduler.get_job(job) is None, what="the scheduler dropped the job it ran")
        submitted.clear()
        time.sleep(2)  # ten reconcile passes at least (every 0.2 s here), inside the grace window
    finally:
        scheduler.add_job = add_job
    assert submitted.count(job) == 0, submitted
    assert scheduler.get_job(job) is None
    assert [r["outcome"] for r in runs(hub, area.code)] == ["done"]
    assert len(announcements(hub, area.code)) == 1
