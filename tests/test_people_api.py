"""Staff accounts and invites through the API and `khu user`: who may make whom, links, QR codes."""

from __future__ import annotations

from typing import Any

import pytest

from hub.api.invite_links import qr_svg
from hub.cli import build_parser
from hub.models import Role
from tests.conftest import HubHarness, make_area

PASSWORD = "Mật-khẩu-dài-1"


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def refused(r: Any, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["code"] == code, r.text


def can_log_in(hub: HubHarness, username: str, password: str) -> bool:
    r = hub.http.post("/api/v1/auth/token", data={"username": username, "password": password})
    return bool(r.status_code == 200)


def test_a_head_makes_deputies_of_their_own_area_only(hub: HubHarness, area_code: str) -> None:
    other = f"{area_code}b"
    make_area(hub, area_code)
    make_area(hub, other)
    admin = hub.http
    ok(
        admin.post(
            "/api/v1/users",
            json={"username": "truong.a", "password": PASSWORD, "role": "head", "area_code": area_code},
        ),
        201,
    )
    second = ok(
        admin.post(
            "/api/v1/users",
            json={"username": "truong.a2", "password": PASSWORD, "role": "head", "area_code": area_code},
        ),
        201,
    )
    head = hub.client_for("truong.a", PASSWORD)

    # Never an admin, with or without an area, nor another head.
    refused(
        head.post("/api/v1/users", json={"username": "x.admin", "password": PASSWORD, "role": "admin"}),
        403,
        "head_creates_only",
    )
    refused(
        head.post(
            "/api/v1/users",
            json={"username": "x.admin", "password": PASSWORD, "role": "admin", "area_code": area_code},
        ),
        422,
        "invalid_field",
    )
    refused(
        head.post("/api/v1/users", json={"username": "x.head", "password": PASSWORD, "role": "head"}),
        403,
        "head_creates_only",
    )
    # Never anyone of another area: the other area does not exist for them.
    refused(
        head.post(
            "/api/v1/users",
            json={"username": "x.dep", "password": PASSWORD, "role": "deputy", "area_code": other},
        ),
        404,
        "area_not_found",
    )
    assert ok(admin.get("/api/v1/users", params={"area": other}))["items"] == []
    assert not [u for u in ok(admin.get("/api/v1/users"))["items"] if u["username"].startswith("x.")]

    deputy = ok(
        head.post(
            "/api/v1/users",
            json={"username": "pho.a", "password": PASSWORD, "role": "deputy", "display_name": "Anh Minh"},
        ),
        201,
    )
    assert deputy["role"] == "deputy"
    assert deputy["area_id"] == second["area_id"]
    listed = ok(head.get("/api/v1/users", params={"role": "deputy"}))["items"]
    assert [u["username"] for u in listed] == ["pho.a"]

    # The head resets and disables the deputy, never the other head.
    new = "Mật-khẩu-mới-22"
    ok(head.patch(f"/api/v1/users/{deputy['id']}", json={"password": new}))
    assert can_log_in(hub, "pho.a", new)
    assert not can_log_in(hub, "pho.a", PASSWORD)
    refused(head.patch(f"/api/v1/users/{second['id']}", json={"password": new}), 403, "head_changes_only")
    refused(head.patch(f"/api/v1/users/{second['id']}", json={"active": False}), 403, "head_changes_only")
    ok(head.patch(f"/api/v1/users/{deputy['id']}", json={"active": False}))
    assert not can_log_in(hub, "pho.a", new)

    # A deputy makes no one.
    ok(head.patch(f"/api/v1/users/{deputy['id']}", json={"active": True}))
    as_deputy = hub.client_for("pho.a", new)
    refused(
        as_deputy.post("/api/v1/users", json={"username": "x.dep2", "password": PASSWORD, "role": "deputy"}),
        403,
        "role_forbidden",
    )

    rows = ok(admin.get(f"/api/v1/areas/{area_code}/audit", params={"limit": 50}))["items"]
    assert [(r["actor"], r["action"], r["target"]) for r in rows if r["actor"] == "truong.a"][::-1] == [
        ("truong.a", "user.create", "user:pho.a"),
        ("truong.a", "user.update", "user:pho.a"),
        ("truong.a", "user.update", "user:pho.a"),
        ("truong.a", "user.update", "user:pho.a"),
    ]


def test_an_invite_carries_its_link_and_a_qr_code_of_it(hub: HubHarness, area_code: str) -> None:
    make_area(hub, area_code)
    make_area(hub, f"{area_code}b")
    base = f"/api/v1/areas/{area_code}/invites"
    inv = ok(hub.http.post(base, json={"max_uses": 1}), 201)
    # No public address set: the address the request came to (the page's own).
    assert inv["link"] == f"http://testserver/?invite={inv['code']}"
    assert inv["qr_svg"] == qr_svg(inv["link"])
    assert inv["qr_svg"].startswith("<svg")
    assert 'viewBox="0 0 ' in inv["qr_svg"]

    hub.runtime.settings.public_url = "https://khu.example.vn/"
    again = ok(hub.http.post(f"{base}/{inv['id']}/share", json={"code": inv["code"].lower()}))
    assert again["link"] == f"https://khu.example.vn/?invite={inv['code'].lower()}"
    assert again["qr_svg"] == qr_svg(again["link"])
    refused(hub.http.post(f"{base}/{inv['id']}/share", json={"code": "ABCDE-FGHJK"}), 404, "invite_not_found")
    refused(
        hub.http.post(f"/api/v1/areas/{area_code}b/invites/{inv['id']}/share", json={"code": inv["code"]}),
        404,
        "invite_not_found",
    )
    stranger = hub.client_for("head.b", hub.add_user("head.b", Role.HEAD, f"{area_code}b"))
    refused(stranger.post(f"{base}/{inv['id']}/share", json={"code": inv["code"]}), 404, "area_not_found")
    deputy = hub.client_for("pho", hub.add_user("pho", Role.DEPUTY, area_code))
    refused(deputy.post(f"{base}/{inv['id']}/share", json={"code": inv["code"]}), 403, "role_forbidden")


def khu(hub: HubHarness, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    result: int = args.func(hub.settings, args)
    return result


def test_khu_user_adds_lists_resets_and_disables(
    hub: HubHarness, area_code: str, capsys: pytest.CaptureFixture[str]
) -> None:
    make_area(hub, area_code)
    assert (
        khu(hub, "user", "add", "truong.cli", "--role", "head", "--area", area_code, "--name", "Bà Hoa") == 0
    )
    said = capsys.readouterr().out
    assert f"created head 'truong.cli' in area '{area_code}' with password " in said
    password = said.strip().rsplit(" ", 1)[-1]
    assert can_log_in(hub, "truong.cli", password)

    assert (
        khu(hub, "user", "add", "pho.cli", "--role", "deputy", "--area", area_code, "--password", PASSWORD)
        == 0
    )
    assert "password" not in capsys.readouterr().out  # a password given is not printed back
    assert khu(hub, "user", "add", "x", "--role", "deputy") == 2
    assert "give --area CODE" in capsys.readouterr().err
    assert (
        khu(hub, "user", "add", "xyz", "--role", "deputy", "--area", "nowhere", "--password", PASSWORD) == 2
    )
    assert "no area 'nowhere'" in capsys.readouterr().err
    assert (
        khu(hub, "user", "add", "pho.cli", "--role", "deputy", "--area", area_code, "--password", PASSWORD)
        == 2
    )
    assert "already exists" in capsys.readouterr().err

    assert khu(hub, "user", "list", "--area", area_code) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["username", "role", "area", "status", "name"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["pho.cli", "deputy", area_code, "active"],
        ["truong.cli", "head", area_code, "active"],
    ]

    assert khu(hub, "user", "passwd", "pho.cli", "--password", "Mật-khẩu-mới-22") == 0
    assert can_log_in(hub, "pho.cli", "Mật-khẩu-mới-22")
    assert not can_log_in(hub, "pho.cli", PASSWORD)
    assert khu(hub, "user", "passwd", "nobody", "--password", PASSWORD) == 2
    assert "no user 'nobody'" in capsys.readouterr().err

    assert khu(hub, "user", "disable", "pho.cli") == 0
    assert not can_log_in(hub, "pho.cli", "Mật-khẩu-mới-22")
    assert khu(hub, "user", "enable", "pho.cli") == 0
    assert can_log_in(hub, "pho.cli", "Mật-khẩu-mới-22")

    rows = ok(hub.http.get(f"/api/v1/areas/{area_code}/audit", params={"limit": 50}))["items"][::-1]
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("system", "user.create", "user:truong.cli"),
        ("system", "user.create", "user:pho.cli"),
        ("system", "user.update", "user:pho.cli"),
        ("system", "user.update", "user:pho.cli"),
        ("system", "user.update", "user:pho.cli"),
    ]
