"""The audit log in the phone app: sentences in the user's language, with names, not ids."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from hub.audit import record
from hub.models import Area, Role, User
from tests.test_web_app import Site, browser, site, tab  # noqa: F401

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
expect = sync_api.expect

NO_OVERFLOW = "document.documentElement.scrollWidth <= 360"
TITLE = "Tạm ngừng cấp nước chiều thứ Bảy"


def _head_acts(s: Site) -> str:
    """The head, "Nguyễn Văn Hùng", lights a street at 70 % and sends an announcement; their password."""
    password = s.user("truong.khu", Role.HEAD)
    with s.hub.runtime.sessions.begin() as session:
        session.execute(
            update(User).where(User.username == "truong.khu").values(display_name="Nguyễn Văn Hùng")
        )
    head = s.hub.client_for("truong.khu", password)
    zone = s.area.zone_id("Đường Trần Thái Tông")
    r = head.post(
        f"/api/v1/areas/{s.area.code}/commands",
        json={"target": {"zone_id": zone}, "action": {"type": "light.set", "on": True, "level": 70}},
    )
    assert r.status_code == 200, r.text
    r = head.post(
        f"/api/v1/areas/{s.area.code}/announcements",
        json={"title": TITLE, "text": "Chiều thứ Bảy khu dân cư tạm ngừng cấp nước từ 13 giờ."},
    )
    assert r.status_code in (200, 201), r.text

    def settled() -> bool:
        items: list[dict[str, Any]] = s.hub.http.get(f"/api/v1/areas/{s.area.code}/audit").json()["items"]
        light = next(a for a in items if a["action"] == "light.set")
        return bool(light["counts"] == {"confirmed": 4})

    s.hub.wait(settled, what="the command's final result in the audit log")
    return password


def test_audit_log_reads_as_sentences_with_names(site: Callable[..., Site]) -> None:  # noqa: F811
    s = site(lights=4, streets=1, speakers=1, cameras=0)
    page = s.login("truong.khu", _head_acts(s))
    tab(page, "Thêm")
    page.get_by_role("link", name=re.compile("^Nhật ký")).click()
    light = page.locator('[data-audit="light.set"]')
    expect(light).to_contain_text("Bật đèn 70 % · Đường Trần Thái Tông")
    expect(light).to_contain_text("4 đã xác nhận")
    expect(light).to_contain_text("Nguyễn Văn Hùng")
    expect(light).to_contain_text(re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}"))
    sent = page.locator('[data-audit="announcement.create"]')
    expect(sent).to_contain_text(f"Phát thông báo · {TITLE}")
    shown = page.locator("[data-audit]").all_inner_texts()
    for word in ("zone:", "announcement:", "confirmed", "queued", "scheduled", "light.set"):
        assert not any(word in row for row in shown), f"{word!r} shown in the audit log"
    export = page.locator("[data-action=export-audit]")
    expect(export).to_have_attribute("href", re.compile(r"/audit/export\?lang=vi$"))
    csv = page.request.get(s.base + str(export.get_attribute("href")))
    assert csv.body().startswith("\ufeff".encode())
    assert "Bật đèn 70 %,Đường Trần Thái Tông,4 đã xác nhận" in csv.text()
    assert page.evaluate(NO_OVERFLOW), "the audit log scrolls sideways at 360 px"
    s.shot(page, "audit-log", top=True)

    # An action this version of the app has no words for still reads as a line.
    with s.hub.runtime.sessions.begin() as session:
        area_id = session.scalar(select(Area.id).where(Area.code == s.area.code))
        record(session, None, area_id, "lamp.dance", "device:den-99", "wobbled 3")
    page.reload()
    unknown = page.locator('[data-audit="lamp.dance"]')
    expect(unknown).to_contain_text("Thao tác “lamp.dance” · Thiết bị den-99")
    expect(unknown).to_contain_text("Hệ thống")
    page.locator("nav.tabs").get_by_role("link", name="Phát thanh").click()
    broadcast_csv = page.get_by_role("link", name="Xuất CSV")
    expect(broadcast_csv).to_have_attribute("href", re.compile(r"/announcements/export\?format=csv&lang=vi$"))
    rows = page.request.get(s.base + str(broadcast_csv.get_attribute("href"))).text()
    assert "Tất cả loa" in rows  # the zones by name, in Vietnamese

    # In English, the same rows in English.
    page.goto(f"{s.base}/#/settings")
    page.get_by_label("Ngôn ngữ").select_option("en")
    page.goto(f"{s.base}/#/logs/audit")
    light = page.locator('[data-audit="light.set"]')
    expect(light).to_contain_text("Lights on at 70 % · Đường Trần Thái Tông")
    expect(light).to_contain_text("4 confirmed")
    expect(page.locator('[data-audit="announcement.create"]')).to_contain_text(f"Announcement sent · {TITLE}")
    expect(page.locator("[data-action=export-audit]")).to_have_attribute("href", re.compile(r"lang=en$"))
    assert page.evaluate(NO_OVERFLOW)
