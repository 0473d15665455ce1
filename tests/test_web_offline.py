"""The phone app when the network is bad: the last known picture, a quick offline badge, loading states."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from hub.models import Role
from tests import test_web_app
from tests.test_web_app import Site, tab
from tests.web_helpers import wait_for_js

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
Route = sync_api.Route
expect = sync_api.expect
# The phone-app fixtures (pytest finds them by these names in this module).
browser = test_web_app.browser
site = test_web_app.site

NO_OVERFLOW = "document.documentElement.scrollWidth <= 360"


def _lights_on_screen(page: Page, s: Site) -> None:
    for light in s.lights():
        expect(page.locator(f'[data-device-id="{light}"]')).to_have_attribute("data-confirmed", "on")


def _switch_all_on(s: Site) -> None:
    r = s.hub.http.post(
        f"/api/v1/areas/{s.area.code}/commands",
        json={"target": {"area": True}, "action": {"type": "light.set", "on": True, "level": 60}},
    )
    assert r.status_code == 200, r.text


def _wait_for_worker(page: Page) -> None:
    # The shell comes from the worker's cache only once it controls the page.
    wait_for_js(page, "navigator.serviceWorker.controller !== null")


def test_a_reload_without_the_hub_shows_the_last_known_picture_and_goes_live_when_it_returns(
    site: Callable[..., Site],
) -> None:
    s = site(lights=3, streets=1, speakers=1, cameras=1)
    _switch_all_on(s)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    tab(page, "Đèn")
    _lights_on_screen(page, s)
    _wait_for_worker(page)
    page.wait_for_timeout(1500)  # the picture is written a moment after it changes

    s.server.stop()
    page.reload()
    # Not the login form: the lights as they were, a banner that says from when, read-only.
    expect(page.locator("nav.tabbar")).to_be_visible()
    expect(page.get_by_label("Mật khẩu")).to_have_count(0)
    _lights_on_screen(page, s)
    banner = page.locator("[data-banner=offline]")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("Dữ liệu lúc")
    expect(banner).to_contain_text("chỉ xem")
    expect(page.locator(".topbar .live")).to_have_text("Mất kết nối")
    expect(page.locator("[data-area-action=on]")).to_be_disabled()
    assert page.evaluate(NO_OVERFLOW)
    s.shot(page, "offline-reload")
    # The other tabs open from the same picture.
    tab(page, "Tổng quan")
    expect(page.locator("[data-stat=lights]")).to_contain_text("3")

    # A light changes while the phone is cut off; the app picks it up by itself when the hub is back.
    light = s.lights()[0]
    r = s.hub.http.post(
        f"/api/v1/areas/{s.area.code}/commands",
        json={"target": {"device_id": light}, "action": {"type": "light.set", "on": False}},
    )
    assert r.status_code == 200, r.text
    s.server.start()
    expect(banner).to_be_hidden(timeout=15_000)
    expect(page.locator(".topbar .live")).to_have_text("Trực tiếp")
    tab(page, "Đèn")
    row = page.locator(f'[data-device-id="{light}"]')
    expect(row).to_have_attribute("data-confirmed", "off", timeout=10_000)
    expect(page.locator("[data-area-action=on]")).to_be_enabled()


def _seconds_until_offline(page: Page, cut: Callable[[], None]) -> float:
    badge = page.locator(".topbar .live")
    expect(badge).to_have_text("Trực tiếp", timeout=15_000)
    page.wait_for_timeout(1000)  # the live stream is open
    began = time.monotonic()
    cut()
    expect(badge).to_have_text("Mất kết nối", timeout=30_000)
    return time.monotonic() - began


def test_the_live_badge_turns_offline_within_seconds_of_the_hub_going_away(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=1)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    # The phone's own network goes (Wi-Fi off, out of range): nothing closes the stream.
    took = _seconds_until_offline(page, lambda: page.context.set_offline(True))
    assert took < 5, f"the badge said 'Trực tiếp' for {took:.1f} s after the phone lost its network"
    page.context.set_offline(False)
    # The hub stops: the stream ends and the app asks the hub before saying it is gone.
    took = _seconds_until_offline(page, s.server.stop)
    assert took < 5, f"the badge said 'Trực tiếp' for {took:.1f} s after the hub went away"
    s.server.start()
    expect(page.locator(".topbar .live")).to_have_text("Trực tiếp", timeout=15_000)


def test_a_silent_network_is_noticed_from_the_missing_pings(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=1)
    runtime = s.hub.runtime
    runtime.live.ping_s = runtime.notifications.feed.ping_s = 1.0
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    badge = page.locator(".topbar .live")
    expect(badge).to_have_text("Trực tiếp")
    page.wait_for_timeout(1500)
    subs = next(iter(runtime.live._subs.values()))
    loop = next(iter(subs)).loop  # the HTTP server's event loop
    # The hub's uplink goes silent: no error, no closed connection, just nothing (the server's
    # loop is held, so neither pings nor answers come).
    began = time.monotonic()
    loop.call_soon_threadsafe(time.sleep, 10)
    expect(badge).to_have_text("Mất kết nối", timeout=15_000)
    took = time.monotonic() - began
    assert took < 8, f"the badge said 'Trực tiếp' for {took:.1f} s of silence (pings every 1 s)"
    # The hub answers again: live by itself.
    expect(badge).to_have_text("Trực tiếp", timeout=20_000)


def test_a_camera_down_does_not_look_like_the_connection_to_the_hub(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=2)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    cam = next(sp.device_id for sp in s.area.specs if sp.kind == "camera")
    s.area.fleet.device(cam).go_offline()
    stat = page.locator("[data-stat=cameras]")
    expect(stat).to_contain_text("1 mất tín hiệu", timeout=15_000)
    expect(stat.locator(".pill.bad")).to_have_text("1 mất tín hiệu")
    expect(stat).not_to_contain_text("trực tuyến")
    expect(page.locator(".topbar .live")).to_have_text("Trực tiếp")


def test_a_slow_hub_shows_the_shell_and_loading_lines_not_a_blank_screen(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=1)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    tab(page, "Lịch")
    nothing_soon = page.get_by_text("Không có việc gì trong 24 giờ tới.")
    expect(nothing_soon).to_be_visible()

    # A slow network: the answer is held back (3 s and more) while the page is looked at.
    held: list[Route] = []

    def hold(route: Route) -> None:
        held.append(route)

    page.route("**/schedule/preview*", hold)
    tab(page, "Tổng quan")
    tab(page, "Lịch")
    loading = page.locator("[data-loading]")
    expect(loading).to_have_text("Đang tải…")
    page.wait_for_timeout(3000)
    expect(loading).to_have_text("Đang tải…")
    expect(nothing_soon).to_have_count(0)
    for route in held:
        route.continue_()
    expect(nothing_soon).to_be_visible(timeout=10_000)
    expect(loading).to_have_count(0)
    page.unroute("**/schedule/preview*")

    # A failed load says so and offers to try again.
    page.route("**/schedule/preview*", lambda route: route.fulfill(status=500, body="boom"))
    tab(page, "Tổng quan")
    tab(page, "Lịch")
    retry = page.get_by_role("button", name="Thử lại")
    expect(retry).to_be_visible()
    expect(page.locator("[data-load-error]")).to_be_visible()
    page.unroute("**/schedule/preview*")
    retry.click()
    expect(nothing_soon).to_be_visible()

    # A slow first load: the shell and placeholders show, not the splash alone.
    held.clear()
    page.route("**/api/v1/areas/*/devices*", hold)
    page.evaluate("location.hash = '#/overview'")
    page.reload()
    expect(page.locator("nav.tabbar")).to_be_visible()
    expect(page.locator("[data-loading]").first).to_have_text("Đang tải…")
    assert page.evaluate(NO_OVERFLOW)
    s.shot(page, "loading")
    page.wait_for_timeout(500)
    for route in held:
        route.continue_()
    page.unroute("**/api/v1/areas/*/devices*")
    expect(page.locator("[data-stat=lights]")).to_be_visible(timeout=10_000)
    expect(page.locator("[data-loading]")).to_have_count(0)


def test_logging_out_forgets_the_picture_kept_on_the_phone(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=1)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    tab(page, "Đèn")
    expect(page.locator(f'[data-device-id="{s.lights()[0]}"]')).to_be_visible()
    _wait_for_worker(page)
    page.wait_for_timeout(1500)
    # Kept while logged in: a reload without the hub shows the area, not the login form.
    s.server.stop()
    page.reload()
    expect(page.locator("nav.tabbar")).to_be_visible()
    s.server.start()
    expect(page.locator("[data-banner=offline]")).to_be_hidden(timeout=15_000)
    page.evaluate("location.hash = '#/settings'")
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_label("Mật khẩu")).to_be_visible()
    s.server.stop()
    page.reload()
    expect(page.get_by_label("Mật khẩu")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Không kết nối được với trung tâm")
    expect(page.locator("nav.tabbar")).to_have_count(0)
    stored = page.evaluate(
        """() => new Promise((resolve) => {
            const req = indexedDB.open("khu-offline");
            req.onsuccess = () => {
                const db = req.result;
                if (!db.objectStoreNames.contains("picture")) return resolve(0);
                const count = db.transaction("picture").objectStore("picture").count();
                count.onsuccess = () => resolve(count.result);
            };
            req.onerror = () => resolve(-1);
        })"""
    )
    assert stored == 0


def test_a_failing_session_check_shows_the_picture_but_a_refused_one_asks_to_log_in(
    site: Callable[..., Site],
) -> None:
    s = site(lights=2, streets=1, speakers=1, cameras=1)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    tab(page, "Đèn")
    expect(page.locator(f'[data-device-id="{s.lights()[0]}"]')).to_be_visible()
    page.wait_for_timeout(1500)
    me = "**/api/v1/auth/me"
    # The hub is there but failing (a 503 from it or a proxy): the picture, then live again.
    page.route(me, lambda route: route.fulfill(status=503, json={"detail": "busy"}))
    page.reload()
    banner = page.locator("[data-banner=offline]")
    expect(banner).to_contain_text("Dữ liệu lúc")
    expect(page.locator(f'[data-device-id="{s.lights()[0]}"]')).to_be_visible()
    page.unroute(me)
    expect(banner).to_be_hidden(timeout=15_000)
    expect(page.locator("[data-area-action=on]")).to_be_enabled()
    # A 401 means the session is over: the login form, and the picture is forgotten.
    page.route(me, lambda route: route.fulfill(status=401, json={"detail": "not logged in"}))
    page.reload()
    expect(page.get_by_label("Mật khẩu")).to_be_visible()
    page.unroute(me)
    s.server.stop()
    page.reload()
    expect(page.get_by_label("Mật khẩu")).to_be_visible()
    expect(page.locator("nav.tabbar")).to_have_count(0)


def test_a_proxy_saying_the_hub_is_down_still_gets_the_app_from_the_phone(site: Callable[..., Site]) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=1)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    _wait_for_worker(page)
    tab(page, "Đèn")
    expect(page.locator(f'[data-device-id="{s.lights()[0]}"]')).to_be_visible()
    page.wait_for_timeout(1500)
    # nginx in front of a stopped hub answers the page itself with 502.
    page.context.route(s.base + "/", lambda route: route.fulfill(status=502, body="502 Bad Gateway"))
    s.server.stop()
    page.reload()
    expect(page.locator("[data-banner=offline]")).to_contain_text("Dữ liệu lúc")
    expect(page.get_by_text("502 Bad Gateway")).to_have_count(0)


def test_a_resident_reopening_without_the_hub_reads_the_kept_announcements_in_english(
    site: Callable[..., Site],
) -> None:
    s = site(lights=1, streets=1, speakers=1, cameras=0)
    r = s.hub.http.post(
        f"/api/v1/areas/{s.area.code}/announcements",
        json={"title": "Họp tổ dân phố", "text": "Mời bà con dự họp lúc 19 giờ.", "priority": "normal"},
    )
    assert r.status_code == 201, r.text
    page = s.login("cu.dan", s.user("cu.dan", Role.RESIDENT))
    expect(page.locator("[data-feed] article").first).to_contain_text("Họp tổ dân phố", timeout=15_000)
    page.evaluate("localStorage.setItem('khu.lang', 'en')")
    _wait_for_worker(page)
    page.wait_for_timeout(1500)
    s.server.stop()
    page.reload()
    expect(page.locator("[data-feed] article").first).to_contain_text("Họp tổ dân phố")
    banner = page.locator("[data-banner=offline]")
    expect(banner).to_contain_text("Data from")
    expect(banner).to_contain_text("view only")
    assert page.evaluate(NO_OVERFLOW)
