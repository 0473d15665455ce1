"""Recording a voice announcement in the phone app, and the ready-made templates, in real Chromium."""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hub.models import Role
from tests.test_web_app import Site, site, tab  # noqa: F401
from tests.web_helpers import (
    CHROMIUM,
    CHROMIUM_ARGS,
    CONTRAST_JS,
    TOUCH_TARGETS_JS,
    UNLABELLED_JS,
    wait_for_js,
)

sync_api = pytest.importorskip("playwright.sync_api")
Browser = sync_api.Browser
Page = sync_api.Page
expect = sync_api.expect

# Chromium's own test microphone: a beep, and the permission prompt answered "allow".
FAKE_MIC = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
REFUSE_MIC = """
navigator.mediaDevices.getUserMedia = () =>
  Promise.reject(new DOMException("Permission denied", "NotAllowedError"));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Chromium with a fake microphone (the ``site`` fixture takes this one in this module)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("KHU_SETUP_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing; scripts/setup.sh installs it (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is not installed (scripts/test.sh installs it)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[*CHROMIUM_ARGS, *FAKE_MIC])
        yield b
        b.close()


def no_overflow(page: Page) -> None:
    """Nothing pushes the page sideways; every control is big enough, named and readable."""
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    small = [e for e in page.evaluate(TOUCH_TARGETS_JS) if e["w"] < 44 or e["h"] < 44]
    assert not small, small
    assert not page.evaluate(UNLABELLED_JS)
    assert not page.evaluate(CONTRAST_JS)


def open_form(s: Site, password: str = "", english: bool = False, **options: object) -> Page:
    page = s.login("truong.khu", password or s.user("truong.khu", Role.HEAD), **options)
    if english:
        page.goto(f"{s.base}/#/settings")
        page.get_by_label("Ngôn ngữ").select_option("en")
        expect(page.locator("nav.tabbar")).to_contain_text("Broadcast")
    tab(page, "Broadcast" if english else "Phát thanh")
    return page


def test_a_recorded_announcement_is_converted_and_played_on_every_speaker(
    site: Callable[..., Site],  # noqa: F811
) -> None:
    s = site(lights=2, streets=1, speakers=2, speaker_zones=1, cameras=1)
    page = open_form(s, permissions=["microphone"])
    page.get_by_label("Tiêu đề").fill("Thông báo của tổ trưởng")
    page.get_by_role("radio", name="Ghi âm", exact=True).check()
    rec = page.locator("[data-recorder]")
    expect(rec).to_contain_text("Tối đa 5 phút")
    page.get_by_role("button", name="Bắt đầu ghi âm").click()
    expect(rec).to_have_attribute("data-recorder", "recording")
    expect(rec).to_contain_text("Đang ghi")
    # The fake microphone beeps: the level meter moves and the time counts.
    expect(rec.locator(".rec-level")).not_to_have_attribute("data-level", "0")
    expect(rec.locator(".rec-time")).to_have_text("0:01", timeout=5_000)
    progress = rec.get_by_role("progressbar", name="Thời gian đã ghi")
    expect(progress).to_have_attribute("aria-valuemax", "300")
    rec.scroll_into_view_if_needed()
    no_overflow(page)
    s.shot(page, "voice-recording")
    expect(rec.locator(".rec-time")).to_have_text("0:02", timeout=5_000)
    page.get_by_role("button", name="Dừng ghi").click()
    expect(rec).to_have_attribute("data-recorder", "recorded")
    expect(rec).to_contain_text("Bản ghi dài 0:02")
    expect(rec.locator("audio")).to_have_count(1)
    # Playing it back: the browser can decode what it recorded.
    wait_for_js(page, "() => document.querySelector('.rec-audio')?.readyState >= 1")
    # Sending before choosing it says what to do.
    page.get_by_role("button", name="Phát ngay").last.click()
    expect(page.locator("form .error-text[role=alert]")).to_contain_text("Dùng bản ghi này")
    page.get_by_role("button", name="Dùng bản ghi này").click()
    expect(rec).to_have_attribute("data-recorder", "used")
    expect(rec).to_contain_text("Sẽ phát")
    no_overflow(page)
    s.shot(page, "voice-recorded")

    page.get_by_role("button", name="Phát ngay").last.click()
    live = page.locator("[data-live=broadcast] section")
    expect(live).to_contain_text("Thông báo của tổ trưởng")
    expect(live.locator("[data-speaker]")).to_have_count(2)
    expect(live.locator('[data-speaker][data-state="finished"]')).to_have_count(2, timeout=20_000)
    expect(rec).to_have_attribute("data-recorder", "idle")  # ready for the next one

    base = f"/api/v1/areas/{s.area.code}"
    ann = s.hub.http.get(f"{base}/announcements", params={"limit": 1}).json()["items"][0]
    assert ann["title"] == "Thông báo của tổ trưởng"
    assert 1500 <= ann["duration_ms"] <= 3500, ann
    audio = s.hub.http.get(ann["audio_url"].split(s.base, 1)[-1].split("8080", 1)[-1])
    assert audio.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(audio.content)) as w:
        assert w.getnchannels() == 1
        assert abs(w.getnframes() / w.getframerate() * 1000 - ann["duration_ms"]) < 50


def test_a_refused_microphone_says_how_to_allow_it_in_both_languages(
    site: Callable[..., Site],  # noqa: F811
) -> None:
    s = site(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    password = s.user("truong.khu", Role.HEAD)
    page = open_form(s, password)
    page.add_init_script(REFUSE_MIC)
    page.reload()
    page.get_by_role("radio", name="Ghi âm", exact=True).check()
    page.get_by_role("button", name="Bắt đầu ghi âm").click()
    problem = page.locator("[data-mic-problem]")
    expect(problem).to_contain_text("không được phép dùng micrô")
    expect(problem).to_contain_text("Thử lại")
    expect(page.get_by_role("button", name="Thử lại")).to_be_visible()
    no_overflow(page)
    s.shot(page, "voice-refused")

    # On plain http:// from another machine the browser offers no microphone at all.
    page.add_init_script("Object.defineProperty(window, 'isSecureContext', { value: false });")
    page.reload()
    page.get_by_role("radio", name="Ghi âm", exact=True).check()
    page.get_by_role("button", name="Bắt đầu ghi âm").click()
    expect(problem).to_contain_text("https://")
    expect(problem).to_contain_text("chọn Tệp")

    en = open_form(s, password, english=True)
    en.add_init_script(REFUSE_MIC)
    en.reload()
    expect(en.get_by_role("radio", name="Record", exact=True)).to_be_attached()
    en.get_by_role("radio", name="Record", exact=True).check()
    en.get_by_role("button", name="Start recording").click()
    expect(en.locator("[data-mic-problem]")).to_contain_text("Allow the microphone for this page")
    no_overflow(en)


def test_a_recording_stops_itself_at_five_minutes(site: Callable[..., Site]) -> None:  # noqa: F811
    s = site(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD), permissions=["microphone"])
    page.clock.install()
    page.reload()
    tab(page, "Phát thanh")
    page.get_by_role("radio", name="Ghi âm", exact=True).check()
    page.get_by_role("button", name="Bắt đầu ghi âm").click()
    rec = page.locator("[data-recorder]")
    expect(rec).to_have_attribute("data-recorder", "recording")
    page.clock.run_for(299_000)
    expect(rec.locator(".rec-time")).to_have_text("4:59")
    page.clock.run_for(1_500)
    expect(rec).to_have_attribute("data-recorder", "recorded")
    expect(rec).to_contain_text("Đã tự dừng: bản ghi dài tối đa 5 phút.")
    expect(rec).to_contain_text("Bản ghi dài 5:00")


def test_a_template_fills_the_form_and_its_blanks_must_be_filled(
    site: Callable[..., Site],  # noqa: F811
) -> None:
    s = site(lights=1, streets=1, speakers=1, speaker_zones=1, cameras=0)
    page = open_form(s)
    button = page.get_by_role("button", name="Mẫu có sẵn")
    # One line, beside the heading: it must not wrap at 360 px.
    box = button.bounding_box()
    assert box is not None
    assert box["height"] < 50, box
    button.click()
    sheet = page.locator("dialog[open]")
    expect(sheet).to_contain_text("Khẩn cấp")
    expect(sheet).to_contain_text("Thông báo định kỳ")
    for name in ("Cháy", "Lũ, ngập", "Mất điện", "An toàn trở lại", "Thu phí vệ sinh", "Họp tổ dân phố",
                 "Tiêm chủng", "Lịch cắt điện"):  # fmt: skip
        expect(sheet.get_by_role("button", name=name)).to_be_visible()
    no_overflow(page)
    s.shot(page, "broadcast-templates")
    sheet.get_by_role("button", name="Cháy").click()
    expect(page.get_by_label("Tiêu đề")).to_have_value("Báo cháy")
    text = page.get_by_label("Nội dung đọc trên loa")
    assert text.input_value().startswith("Khẩn cấp! Đang xảy ra cháy tại [địa điểm].")
    expect(page.get_by_role("radio", name="Khẩn cấp", exact=True)).to_be_checked()
    # The blank is selected, ready to type over.
    selected = "(e => e.value.slice(e.selectionStart, e.selectionEnd))(document.activeElement)"
    assert page.evaluate(selected) == "[địa điểm]"

    page.get_by_role("button", name="Phát ngay").last.click()
    expect(page.locator("form .error-text[role=alert]")).to_contain_text(
        "Hãy thay [địa điểm] bằng thông tin thật"
    )
    expect(page.locator("dialog[open]")).to_have_count(0)  # nothing was sent, nothing asked

    # A repeated notice over typed text asks first, then fills it at the normal level.
    page.get_by_label("Tiêu đề").fill("Tiêu đề của tôi")
    button.click()
    page.locator("dialog[open]").get_by_role("button", name="Họp tổ dân phố").click()
    page.locator("dialog[open]").get_by_role("button", name="Thay bằng mẫu").click()
    expect(page.get_by_label("Tiêu đề")).to_have_value("Họp tổ dân phố")
    expect(page.get_by_role("radio", name="Thường", exact=True)).to_be_checked()
    assert "[giờ]" in text.input_value()
