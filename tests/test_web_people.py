"""People in the phone app: the admin makes heads, a head makes deputies, invites go out as
links and QR codes, and the residents' list says where each stands."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from hub.api.invite_links import qr_svg
from hub.models import Role
from hub.notifications.models import AreaInvite
from tests.test_web_app import Site, browser, site, tab  # noqa: F401
from tests.web_helpers import CONTRAST_JS, TOUCH_TARGETS_JS, UNLABELLED_JS, wait_for_js

sync_api = pytest.importorskip("playwright.sync_api")
Page = sync_api.Page
expect = sync_api.expect

CLIPBOARD = {"permissions": ["clipboard-read", "clipboard-write"]}
NO_OVERFLOW = "document.documentElement.scrollWidth <= 360"


def usable(page: Page) -> None:
    """Every control big enough for a finger, labelled, readable, and nothing wider than the phone."""
    small = [
        f"{e['tag']} {e['text']!r} {e['w']:.0f}x{e['h']:.0f}"
        for e in page.evaluate(TOUCH_TARGETS_JS)
        if e["w"] < 44 or e["h"] < 44
    ]
    assert not small, small
    assert not page.evaluate(UNLABELLED_JS)
    assert not page.evaluate(CONTRAST_JS)
    assert page.evaluate(NO_OVERFLOW)


def can_log_in(s: Site, username: str, password: str) -> bool:
    r = httpx.post(f"{s.base}/api/v1/auth/token", data={"username": username, "password": password})
    return r.status_code == 200


def open_more(page: Page, link: str) -> None:
    tab(page, "Thêm")
    page.get_by_role("link", name=re.compile(link)).click()


def clipboard(page: Page) -> str:
    text: str = page.evaluate("navigator.clipboard.readText()")
    return text


def admin_makes_a_head(s: Site) -> tuple[Page, str]:
    """The admin's phone and the head's password as the app showed it."""
    page = s.login("can.bo.xa", s.user("can.bo.xa", Role.ADMIN, None), **CLIPBOARD)
    open_more(page, "Cán bộ khu")
    expect(page.get_by_role("heading", name="Cán bộ khu")).to_be_visible()
    expect(page.locator("[data-people]")).to_contain_text("Chưa có cán bộ nào.")

    page.get_by_role("button", name="Thêm tài khoản").click()
    form = page.locator("dialog[open]")
    form.get_by_label("Tên đăng nhập").fill("truong.moi")
    form.get_by_label("Họ tên").fill("Nguyễn Thị Hoa")
    form.get_by_label("Vai trò").select_option("head")
    expect(form.get_by_label("Khu dân cư")).to_have_value(s.area.code)
    form.get_by_role("button", name="Tạo tài khoản").click()

    # The generated password, once, with a copy button.
    shown = page.locator("dialog[open]")
    expect(shown.get_by_role("heading")).to_have_text("Đã tạo tài khoản")
    expect(shown).to_contain_text("chỉ hiện một lần")
    password = shown.locator("[data-shown-password]").inner_text()
    assert len(password) >= 10
    shown.get_by_role("button", name="Sao chép").click()
    expect(page.locator("#toasts")).to_contain_text("Đã sao chép mật khẩu")
    assert clipboard(page) == password
    shown.get_by_role("button", name="Đóng").click()
    row = page.locator("[data-person='truong.moi']")
    expect(row).to_contain_text("Nguyễn Thị Hoa")
    expect(row).to_contain_text("Trưởng khu")
    expect(row).to_contain_text("Đang hoạt động")
    assert page.evaluate(NO_OVERFLOW)
    return page, password


def test_admin_makes_a_head_who_makes_a_deputy(site: Callable[..., Site]) -> None:  # noqa: F811
    s = site(lights=1, streets=1, speakers=1, cameras=0)
    page, password = admin_makes_a_head(s)

    # The head logs in with it and makes a deputy of their own area, with a password they chose.
    head = s.login("truong.moi", password)
    open_more(head, "Cán bộ khu")
    expect(head.locator(".page-head")).to_contain_text("Phó khu của Tổ dân phố 5")
    head.get_by_role("button", name="Thêm tài khoản").click()
    form = head.locator("dialog[open]")
    expect(form.get_by_label("Vai trò")).to_be_disabled()
    expect(form.get_by_label("Vai trò")).to_have_value("deputy")
    assert form.get_by_label("Khu dân cư").count() == 0  # a head's deputies are of their own area
    form.get_by_label("Tên đăng nhập").fill("pho.khu")
    form.get_by_label("Họ tên").fill("Trần Văn Minh")
    form.get_by_label("Mật khẩu").fill("Mat-khau-pho-123")
    form.get_by_role("button", name="Tạo tài khoản").click()
    deputy = head.locator("[data-person='pho.khu']")
    expect(deputy).to_contain_text("Phó khu")
    assert can_log_in(s, "pho.khu", "Mat-khau-pho-123")
    head_resets_and_disables_the_deputy(s, head)

    page.reload()
    expect(page.locator("[data-person='pho.khu']")).to_contain_text("Đã khoá")
    usable(page)
    s.shot(page, "people-list", top=True)


def head_resets_and_disables_the_deputy(s: Site, head: Page) -> None:
    deputy = head.locator("[data-person='pho.khu']")
    # A new password for the deputy, shown once; then the account is disabled.
    deputy.get_by_role("button", name="Đặt lại mật khẩu").click()
    head.locator("dialog[open] [data-confirm]").click()
    fresh = head.locator("dialog[open] [data-shown-password]")
    expect(fresh).to_be_visible()
    new_password = fresh.inner_text()
    assert can_log_in(s, "pho.khu", new_password)
    assert not can_log_in(s, "pho.khu", "Mat-khau-pho-123")
    head.locator("dialog[open]").get_by_role("button", name="Đóng").click()
    deputy.get_by_role("button", name="Khoá").click()
    head.locator("dialog[open] [data-confirm]").click()
    expect(deputy).to_contain_text("Đã khoá")
    expect(deputy.get_by_role("button", name="Mở khoá")).to_be_visible()
    assert not can_log_in(s, "pho.khu", new_password)
    # The head's own row has no buttons: they cannot disable themselves.
    expect(head.locator("[data-person='truong.moi']")).to_contain_text("Bạn")
    assert head.locator("[data-person='truong.moi'] button").count() == 0
    assert head.evaluate(NO_OVERFLOW)


def test_invite_link_qr_copy_share_and_the_residents_list(site: Callable[..., Site]) -> None:  # noqa: F811
    s = site(lights=1, streets=1, speakers=1, cameras=0)
    s.user("lan.tran", Role.RESIDENT)
    old = s.hub.http.post(f"/api/v1/areas/{s.area.code}/invites", json={"max_uses": 1})
    assert old.status_code == 201, old.text
    with s.hub.runtime.sessions.begin() as session:
        past = datetime.now(UTC) - timedelta(hours=1)
        session.execute(update(AreaInvite).where(AreaInvite.id == old.json()["id"]).values(expires_at=past))
    password = s.user("truong.khu", Role.HEAD)
    page = s.login("truong.khu", password, **CLIPBOARD)
    # This browser has no share sheet (as Chromium on a computer): "Chia sẻ" copies instead.
    page.add_init_script("delete Navigator.prototype.share")
    page.reload()
    open_more(page, "Mời cư dân")
    residents = page.locator("[data-residents]")
    expect(residents.locator("[data-resident='lan.tran']")).to_contain_text("Đang hoạt động")
    expect(page.locator(f"[data-invite='{old.json()['id']}']")).to_contain_text("Hết hạn")

    code, link = create_and_check_the_share_sheet(s, page)
    row = page.locator("[data-status='waiting']")
    expect(row).to_contain_text("Đã mời, chưa ai tham gia")
    expect(row).to_contain_text(code)  # this phone keeps the code: it can share it again
    share_again_on_a_phone_with_a_share_sheet(s, page, password, code, link)

    # The link opens the sign-up form with the code filled in; the resident joins.
    resident = s.phone()
    resident.goto(link)
    expect(resident.get_by_label("Mã mời")).to_have_value(code)
    resident.get_by_label("Tên đăng nhập").fill("ba.tu")
    resident.get_by_label("Mật khẩu").fill("Mat-khau-dai-123")
    resident.get_by_role("button", name="Đăng ký", exact=True).click()
    expect(resident.locator("nav.tabbar")).to_be_visible()
    assert "invite" not in resident.url

    page.reload()
    expect(page.locator("[data-resident='ba.tu']")).to_contain_text("Đang hoạt động")
    expect(page.locator("[data-status='used_up']")).to_contain_text("Hết lượt")
    usable(page)
    s.shot(page, "invite-residents", top=True)


def create_and_check_the_share_sheet(s: Site, page: Page) -> tuple[str, str]:
    """A new invite's sheet: link, QR code of it, copy, and share where there is no share sheet."""
    page.get_by_label("Số lượt dùng").fill("1")
    page.get_by_role("button", name="Tạo mã mời").click()
    sheet = page.locator("dialog[open]")
    code = sheet.locator("[data-invite-code]").inner_text()
    link = f"{s.base}/?invite={code}"
    expect(sheet.locator("[data-invite-link]")).to_have_text(link)
    qr = sheet.locator(".qr svg")
    expect(qr).to_have_attribute("aria-label", "Mã QR mở đường dẫn mời")
    expect(sheet.locator(".qr")).to_have_attribute("data-link", link)
    # The QR code is the hub's drawing of exactly this link.
    drawn = re.search(r'class="qrline"[^>]* d="([^"]+)"', qr_svg(link))
    assert drawn is not None
    assert qr.locator("path.qrline").get_attribute("d") == drawn.group(1)
    box = qr.bounding_box()
    assert box is not None
    assert box["width"] >= 200
    usable(page)

    sheet.get_by_role("button", name="Sao chép").click()
    expect(page.locator("#toasts")).to_contain_text("Đã sao chép đường dẫn")
    assert clipboard(page) == link
    page.evaluate("navigator.clipboard.writeText('')")
    sheet.get_by_role("button", name="Chia sẻ").click()
    expect(page.locator("#toasts")).to_contain_text("Đã sao chép đường dẫn")
    assert clipboard(page) == link
    s.shot(page, "invite-share")
    sheet.get_by_role("button", name="Đóng").click()
    return code, link


def share_again_on_a_phone_with_a_share_sheet(
    s: Site, page: Page, password: str, code: str, link: str
) -> None:
    """On a phone with a share sheet (Zalo, Messenger…), "Chia sẻ" hands it the link."""
    phone = s.login("truong.khu", password)
    phone.add_init_script(
        "window.__shared = []; navigator.share = async (data) => { window.__shared.push(data); };"
    )
    key = f"khu.invites.{s.area.code}"
    phone.evaluate(
        "([k, v]) => localStorage.setItem(k, v)", [key, page.evaluate("(k) => localStorage.getItem(k)", key)]
    )
    phone.reload()
    open_more(phone, "Mời cư dân")
    phone.locator("[data-status='waiting']").get_by_role("button", name="Chia sẻ lại").click()
    phone.locator("dialog[open]").get_by_role("button", name="Chia sẻ").click()
    wait_for_js(phone, "window.__shared.length === 1")
    shared = phone.evaluate("window.__shared[0]")
    assert shared["url"] == link
    assert code in shared["text"]
    assert "Tổ dân phố 5" in shared["text"]


def test_people_and_invites_in_english(site: Callable[..., Site]) -> None:  # noqa: F811
    s = site(lights=1, streets=1, speakers=1, cameras=0)
    s.user("pho.khu", Role.DEPUTY)
    page = s.login("truong.khu", s.user("truong.khu", Role.HEAD))
    page.evaluate("localStorage.setItem('khu.lang', 'en')")
    page.goto(s.base + "/#/people")
    page.reload()  # the language is read when the app starts
    expect(page.get_by_role("heading", name="Area staff")).to_be_visible()
    expect(page.locator("[data-person='pho.khu']")).to_contain_text("Deputy head")
    expect(
        page.locator("[data-person='pho.khu']").get_by_role("button", name="Reset password")
    ).to_be_visible()
    page.goto(s.base + "/#/invites")
    expect(page.get_by_role("heading", name="Residents", exact=True)).to_be_visible()
    expect(page.locator("[data-residents]")).to_contain_text("No resident has registered yet.")
    page.get_by_role("button", name="Create an invite code").click()
    sheet = page.locator("dialog[open]")
    expect(sheet.get_by_role("button", name="Copy")).to_be_visible()
    expect(sheet.get_by_role("button", name="Share")).to_be_visible()
    expect(sheet).to_contain_text("Invite link")
    assert page.evaluate(NO_OVERFLOW)
