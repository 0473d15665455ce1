"""The broadcast log as a CSV file for people: the area's local time, zones and speakers by
name, statuses in the reader's language. The header keeps its English keys, which scripts
read; the ids stay in columns of their own at the end."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.api.audit_words import Lang
from hub.api.broadcast_schemas import AnnouncementPublic
from hub.api.local_time import local_iso
from hub.models import Area, Device, Zone

HEADER = [
    "id",
    "created_at",
    "issued_by",
    "title",
    "priority",
    "status",
    "source",
    "zones",
    "start_at",
    "finished_at",
    "targeted",
    "finished",
    "coverage_percent",
    "offline",
    "failed",
    "zone_ids",
    "offline_ids",
    "failed_ids",
]

# The phone app's words (ann.* and priority.* in hub/web/static/i18n.js).
_WORDS: dict[str, tuple[str, str]] = {
    "scheduled": ("Đã hẹn giờ", "Scheduled"),
    "queued": ("Chờ phát", "Waiting"),
    "playing": ("Đang phát", "Playing"),
    "done": ("Đã phát xong", "Done"),
    "interrupted": ("Bị ngắt", "Interrupted"),
    "cancelled": ("Đã huỷ", "Cancelled"),
    "failed": ("Không phát được", "Failed"),
    "normal": ("Thường", "Normal"),
    "priority": ("Ưu tiên", "Priority"),
    "emergency": ("Khẩn cấp", "Emergency"),
    "manual": ("Trưởng khu", "Area head"),
    "programme": ("Chương trình phát", "Programme"),
    "resumed": ("Phát lại sau khẩn cấp", "Replayed after an emergency"),
    "all": ("Tất cả loa", "All speakers"),
}


def _word(code: str, lang: Lang) -> str:
    pair = _WORDS.get(code)
    return code if pair is None else pair[0 if lang == "vi" else 1]


def broadcast_csv(session: Session, area: Area, items: Sequence[AnnouncementPublic], lang: Lang) -> str:
    """The CSV text with a byte-order mark, so spreadsheet programs read Vietnamese as UTF-8."""
    zone = ZoneInfo(area.timezone)
    zones = {
        int(i): str(n) for i, n in session.execute(select(Zone.id, Zone.name).where(Zone.area_id == area.id))
    }
    speakers = {
        device_id: name or device_id
        for device_id, name in session.execute(
            select(Device.device_id, Device.name).where(Device.area_id == area.id, Device.kind == "speaker")
        )
    }
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for i in items:
        c = i.coverage
        offline, failed = (c.offline, c.failed) if c else ([], [])
        writer.writerow(
            [
                i.id,
                local_iso(i.created_at, zone),
                i.created_by_name or "",
                i.title,
                _word(i.priority, lang),
                _word(i.status, lang),
                _word(i.source, lang),
                "; ".join(zones.get(z, str(z)) for z in i.zone_ids) if i.zone_ids else _word("all", lang),
                local_iso(i.start_at, zone) if i.start_at else "",
                local_iso(i.finished_at, zone) if i.finished_at else "",
                c.targeted if c else 0,
                c.finished if c else 0,
                c.percent if c else 0,
                "; ".join(speakers.get(d, d) for d in offline),
                "; ".join(speakers.get(d, d) for d in failed),
                " ".join(map(str, i.zone_ids)) if i.zone_ids else "all",
                " ".join(offline),
                " ".join(failed),
            ]
        )
    return "\ufeff" + out.getvalue()
