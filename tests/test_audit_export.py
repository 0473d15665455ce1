"""The audit log for people: names instead of ids, outcomes as numbers, a CSV in their language."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from hub.api.audit_views import outcome
from tests.conftest import SimArea


def _audit(area: SimArea) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = area.hub.http.get(f"/api/v1/areas/{area.code}/audit").json()["items"]
    return items


def _act(area: SimArea) -> tuple[int, str]:
    """A zone command and an announcement, both finished; returns the zone id and announcement id."""
    zone = area.zone_id("Đường 1")
    r = area.hub.http.post(
        f"/api/v1/areas/{area.code}/commands",
        json={"target": {"zone_id": zone}, "action": {"type": "light.set", "on": True, "level": 70}},
    )
    assert r.status_code == 200, r.text
    r = area.hub.http.post(
        f"/api/v1/areas/{area.code}/announcements",
        json={"title": "Tạm ngừng cấp nước", "text": "Chiều nay tạm ngừng cấp nước."},
    )
    assert r.status_code in (200, 201), r.text

    def settled() -> bool:
        light = next(a for a in _audit(area) if a["action"] == "light.set")
        return bool(light["outcome"] == "counts" and "sent" not in light["counts"])

    area.hub.wait(settled, what="the command's final result in the audit log")
    return zone, str(r.json()["id"])


def test_audit_rows_name_their_target_and_count_their_results(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=4, streets=1)
    zone, ann = _act(area)
    rows = {a["action"]: a for a in _audit(area)}
    light = rows["light.set"]
    assert light["target"] == f"zone:{zone}"  # kept for API clients
    assert (light["target_kind"], light["target_id"], light["target_name"]) == ("zone", str(zone), "Đường 1")
    assert light["counts"] == {"confirmed": 4}
    assert light["params"] == {"on": True, "level": 70}
    sent = rows["announcement.create"]
    assert (sent["target_kind"], sent["target_id"]) == ("announcement", ann)
    assert sent["target_name"] == "Tạm ngừng cấp nước"
    assert sent["actor_name"]


def test_csv_is_in_local_time_with_names_in_vietnamese(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=4, streets=1)
    zone, ann = _act(area)
    r = area.hub.http.get(f"/api/v1/areas/{area.code}/audit/export", params={"lang": "vi"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.content.startswith("\ufeff".encode())  # Excel reads the file as UTF-8
    header, *rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert header[:5] == ["Thời gian", "Người thực hiện", "Thao tác", "Đối tượng", "Kết quả"]
    by_action = {row[5]: row for row in rows}
    light = by_action["light.set"]
    assert light[0].endswith("+07:00")
    assert "T" in light[0]
    assert light[2:5] == ["Bật đèn 70 %", "Đường 1", "4 đã xác nhận"]
    assert light[6] == f"zone:{zone}"  # the id column
    sent = by_action["announcement.create"]
    assert sent[2:4] == ["Phát thông báo", "Tạm ngừng cấp nước"]
    assert sent[6] == f"announcement:{ann}"
    assert not any(w in cell for row in rows for cell in row[:5] for w in ("confirmed", "queued", "zone:"))


def test_csv_language_follows_accept_language(sim_area_factory: Callable[..., SimArea]) -> None:
    area = sim_area_factory(lights=2, streets=1)
    _act(area)
    url = f"/api/v1/areas/{area.code}/audit/export"
    english = area.hub.http.get(url, headers={"Accept-Language": "en-GB,en;q=0.9,vi;q=0.5"})
    header, *rows = list(csv.reader(io.StringIO(english.content.decode("utf-8-sig"))))
    assert header[0] == "Time"
    assert english.headers["content-language"] == "en"
    assert ["Lights on at 70 %", "Đường 1", "2 confirmed"] in [row[2:5] for row in rows]
    default = area.hub.http.get(url)
    assert default.content.decode("utf-8-sig").startswith("Thời gian")


def test_stored_results_read_back_into_codes_and_numbers() -> None:
    assert outcome("confirmed 39, queued 1").counts == {"confirmed": 39, "queued": 1}
    assert outcome("cancelled (was queued)").values == {"was": "queued"}
    assert outcome("pending -> active").values == {"from": "pending", "to": "active"}
    assert outcome("deleted; 3 device(s) left without a zone").values == {"unzoned": 3}
    assert outcome("speakers and 12 lights").code == "emergency_on"
    assert outcome("something new").code is None
    assert outcome("wobbled 3").counts is None  # not a command status


def test_broadcast_csv_has_local_times_zone_names_and_words(
    sim_area_factory: Callable[..., SimArea],
) -> None:
    area = sim_area_factory(lights=1, streets=1, speakers=2, speaker_zones=1, cameras=0)
    zone = area.zone_id("Loa khu 1")
    r = area.hub.http.post(
        f"/api/v1/areas/{area.code}/announcements",
        json={"title": "Họp tổ dân phố", "text": "Tối nay họp tổ dân phố.", "zone_ids": [zone]},
    )
    assert r.status_code in (200, 201), r.text
    url = f"/api/v1/areas/{area.code}/announcements/export"
    vi = area.hub.http.get(url, params={"format": "csv", "lang": "vi"})
    assert vi.content.startswith("\ufeff".encode())
    (row,) = csv.DictReader(io.StringIO(vi.content.decode("utf-8-sig")))
    assert row["created_at"].endswith("+07:00")
    assert (row["zones"], row["zone_ids"]) == ("Loa khu 1", str(zone))
    assert row["priority"] == "Thường"
    assert row["status"] in {"Chờ phát", "Đang phát", "Đã phát xong"}
    en = area.hub.http.get(url, params={"format": "csv"}, headers={"Accept-Language": "en-US,en;q=0.8"})
    (row,) = csv.DictReader(io.StringIO(en.content.decode("utf-8-sig")))
    assert row["priority"] == "Normal"
