"""The area at a glance in a real browser: street lights as dots, faults and outages by name, snapshots."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from devices.emulators.frigate import FrigateEmulator, snapshot
from devices.messages import SnapshotReport, Source
from hub.broker.process import Broker
from hub.models import Area, Device, Role
from hub.registry.snapshots import keep
from tests import test_web_app
from tests.protocol_helpers import device, register
from tests.test_web_app import Site
from tests.web_helpers import CONTRAST_JS, TOUCH_TARGETS_JS, UNLABELLED_JS, wait_for_picture

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
Locator = sync_api.Locator
# The phone-app fixtures (pytest finds them by these names in this module).
browser = test_web_app.browser
site = test_web_app.site
expect = sync_api.expect

MAIN_ROAD = "Đường Trần Thái Tông"
SIDE_STREET = "Ngõ 12 Dịch Vọng"


def _no_sideways_scroll(page: Page, what: str) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"{what} pushes the page sideways ({width} px)"


def _open_area(page: Page) -> None:
    """From the overview, as a head would reach it."""
    page.locator(".page-head").get_by_role("link", name="Toàn cảnh").click()
    expect(page.get_by_role("heading", name="Toàn cảnh khu")).to_be_visible()
    assert page.url.endswith("#/area")


def _fit_for_fingers_and_eyes(page: Page) -> None:
    small = [e for e in page.evaluate(TOUCH_TARGETS_JS) if e["w"] < 44 or e["h"] < 44]
    assert not small, f"touch targets under 44 px: {small}"
    assert not page.evaluate(UNLABELLED_JS), "controls without a label"
    assert not page.evaluate(CONTRAST_JS), "text under WCAG AA contrast"


def _zone_row(page: Page, s: Site, name: str) -> Locator:
    return page.locator(f'[data-zone="{s.area.zone_id(name)}"]')


def test_streets_show_lit_dots_and_an_offline_light_turns_hollow_and_is_named(
    site: Callable[..., Site],
) -> None:
    s = site(lights=6, streets=2, speakers=2, cameras=2)
    r = s.hub.http.post(
        f"/api/v1/areas/{s.area.code}/commands",
        json={"target": {"zone_id": s.area.zone_id(MAIN_ROAD)}, "action": {"type": "light.set", "on": True}},
    )
    assert r.status_code == 200, r.text
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    _open_area(page)
    # The overview's tab stays lit: this screen is part of it.
    expect(page.locator('nav.tabbar [data-tab="overview"]')).to_have_attribute("aria-current", "page")
    main = _zone_row(page, s, MAIN_ROAD)
    side = _zone_row(page, s, SIDE_STREET)
    expect(main).to_contain_text(MAIN_ROAD)
    expect(main).to_contain_text("3/3 sáng")
    expect(main.locator(".area-dots i.on")).to_have_count(3)
    expect(side).to_contain_text("0/3 sáng")
    expect(side.locator(".area-dots i.off")).to_have_count(3)
    problems = page.locator("[data-problems]")
    expect(problems).to_contain_text("Không có thiết bị nào hỏng hay mất kết nối")

    # The side street switched on while the page is open: its dots light without a reload.
    r = s.hub.http.post(
        f"/api/v1/areas/{s.area.code}/commands",
        json={
            "target": {"zone_id": s.area.zone_id(SIDE_STREET)},
            "action": {"type": "light.set", "on": True},
        },
    )
    assert r.status_code == 200, r.text
    expect(side).to_contain_text("3/3 sáng")
    expect(side.locator(".area-dots i.on")).to_have_count(3)

    # A light drops off: its dot turns hollow, the count drops and the light is named.
    far = s.lights()[-1]
    s.area.fleet.light(far).go_offline()
    expect(side.locator(f'.area-dots i[data-device-id="{far}"]')).to_have_class("offline")
    expect(side).to_contain_text("2/3 sáng")
    expect(side).to_contain_text("Mất kết nối 1")
    row = problems.locator(f'[data-problem="offline"][data-device-id="{far}"]')
    expect(row).to_contain_text("Đèn Đường 2 số 03")
    expect(row).to_contain_text("Đèn đường · Mất kết nối")
    # A faulty lamp is named too, with what is wrong.
    s.area.fleet.light(s.lights()[0]).set_fault("lamp_failure")
    fault = problems.locator('[data-problem="fault"]')
    expect(fault).to_contain_text("Đèn Đường 1 số 01")
    expect(fault).to_contain_text("Lỗi: hỏng bóng")
    expect(main.locator(".area-dots i.fault")).to_have_count(1)
    _no_sideways_scroll(page, "the area view")
    _fit_for_fingers_and_eyes(page)
    s.shot(page, "area-view", top=True)

    # Tapping a street lists its lights by name with their confirmed state.
    side.get_by_role("button").click()
    dialog = page.locator("dialog[open]")
    expect(dialog.get_by_role("heading", name=SIDE_STREET)).to_be_visible()
    expect(dialog.locator("[data-device-id]")).to_have_count(3)
    expect(dialog.locator(f'[data-device-id="{far}"]')).to_contain_text("Mất kết nối")
    expect(dialog.locator('[data-state="on"]')).to_have_count(2)
    _no_sideways_scroll(page, "a street's lights")
    dialog.get_by_role("button", name="Mở trang Đèn đường").click()
    expect(page.get_by_role("heading", name="Đèn đường", exact=True)).to_be_visible()
    assert page.url.endswith("#/lights")


def test_a_dead_gateway_is_one_line_not_a_row_per_device(site: Callable[..., Site]) -> None:
    s = site(lights=30, streets=1, speakers=2, cameras=3)  # a long street: its dots wrap, never overflow
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    _open_area(page)
    problems = page.locator("[data-problems]")
    expect(problems).to_contain_text("Không có thiết bị nào hỏng hay mất kết nối")
    s.area.fleet.abort_gateway(0)  # everything behind it goes dark at once
    expect(problems).to_contain_text("Cổng gw 1 mất kết nối — 35 thiết bị", timeout=15_000)
    expect(problems.locator("li")).to_have_count(1)
    expect(problems.locator('[data-problem="gateway"]')).to_have_count(1)
    expect(problems).not_to_contain_text("Camera 01")
    expect(problems).not_to_contain_text("Đèn Đường")
    row = _zone_row(page, s, MAIN_ROAD)
    expect(row.locator(".area-dots i.offline")).to_have_count(30)
    expect(row).to_contain_text("0/30 sáng")
    _no_sideways_scroll(page, "the gateway line")
    s.shot(page, "area-view-gateway-down", top=True)


def test_latest_snapshot_per_camera_with_label_and_local_time_in_both_languages(
    site: Callable[..., Site],
) -> None:
    s = site(lights=2, streets=1, speakers=1, cameras=2)
    cam = "cam-01"
    taken = datetime.now(UTC)
    with s.hub.runtime.sessions.begin() as session:  # as ingest keeps a Frigate's snapshot
        pk = session.scalar(
            select(Device.id).join(Area).where(Area.code == s.area.code, Device.device_id == cam)
        )
        assert pk is not None
        shot = SnapshotReport(Source(s.area.code, cam, "frigate"), "person", snapshot("cong-chinh"))
        keep(session, pk, "camera", shot, taken)
    local = taken.astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%H:%M %d/%m")
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    _open_area(page)
    figures = page.locator("[data-snapshot]")
    expect(figures).to_have_count(1)  # cam-02 has none: no empty frame for it
    figure = page.locator(f'[data-snapshot="{cam}"]')
    expect(figure).to_contain_text("Camera 01")
    expect(figure).to_contain_text(f"người · {local}")
    wait_for_picture(page, cam, width=64)
    _no_sideways_scroll(page, "the snapshots")
    figure.get_by_role("button").click()
    expect(page.locator("dialog[open]")).to_contain_text("Ảnh chụp gần nhất: người")
    page.keyboard.press("Escape")

    # The camera goes dark: its last picture stays, marked as not what is there now.
    s.area.fleet.camera(cam).go_offline()
    expect(figure).to_have_attribute("data-online", "false")
    expect(figure).to_contain_text("Mất tín hiệu")
    problems = page.locator("[data-problems]")
    gone = problems.locator(f'[data-problem="offline"][data-device-id="{cam}"]')
    expect(gone).to_contain_text("Camera 01")
    expect(gone).to_contain_text("Camera · Mất tín hiệu")
    figure.scroll_into_view_if_needed()
    s.shot(page, "area-view-snapshots")

    # In English.
    page.goto(f"{s.base}/#/settings")
    page.get_by_label("Ngôn ngữ").select_option("en")
    expect(page.locator("nav.tabbar")).to_contain_text("Overview")
    page.goto(s.base + "/#/area")
    expect(page.get_by_role("heading", name="Area at a glance")).to_be_visible()
    expect(page.locator('[data-zone] button[aria-label*="lit"]')).to_have_count(1)
    expect(page.locator('[data-zone="' + str(s.area.zone_id(MAIN_ROAD)) + '"]')).to_contain_text("0/2 lit")
    expect(problems).to_contain_text("Camera · Offline · Since")
    expect(figure).to_contain_text(f"person · {local}")
    expect(figure).to_contain_text("Offline")
    expect(page.get_by_role("heading", name="Latest camera snapshots")).to_be_visible()
    _no_sideways_scroll(page, "the area view in English")


def test_a_new_snapshot_from_a_frigate_appears_without_a_reload(
    site: Callable[..., Site], broker: Broker
) -> None:
    s = site(lights=2, streets=1, speakers=1, cameras=0)
    code = s.area.code
    mqtt = register(s.hub, code, "nvr-1", "gateway", "frigate")
    emu = FrigateEmulator(
        code, "nvr-1", "127.0.0.1", broker.port, mqtt["username"], mqtt["password"], ["cong-chinh"],
        stats_interval_s=0.5, first_stats_s=0.2,
    )  # fmt: skip
    emu.start()
    try:
        s.hub.wait(
            lambda: device(s.hub, code, "cong-chinh").get("status") == "pending", what="camera announced"
        )
        r = s.hub.http.post(f"/api/v1/areas/{code}/devices/cong-chinh/accept", json={"name": "Cổng chính"})
        assert r.status_code == 200, r.text
        s.hub.wait(lambda: device(s.hub, code, "cong-chinh").get("online") is True, what="camera online")
        page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
        _open_area(page)
        expect(page.locator("[data-snapshot]")).to_have_count(0)
        emu.detect("cong-chinh", "person", 0.91)  # someone at the main gate: Frigate sends its picture
        figure = page.locator('[data-snapshot="cong-chinh"]')
        expect(figure).to_contain_text("Cổng chính")
        expect(figure).to_contain_text("người · ")
        wait_for_picture(page, "cong-chinh")
        _no_sideways_scroll(page, "a live snapshot")
    finally:
        emu.stop()
