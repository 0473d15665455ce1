"""Audit rows worded in Vietnamese or English for files people open (the CSV export).

The phone app words the same facts with its own i18n table (hub/web/static/audit-text.js);
tests/test_audit_words.py fails when the two say different things under the same key.
"""

from __future__ import annotations

from typing import Literal

from hub.api.audit_views import AuditView

Lang = Literal["vi", "en"]

_ACTIONS: dict[str, tuple[str, str]] = {
    "light.on": ("Bật đèn", "Lights on"),
    "light.on_level": ("Bật đèn {level} %", "Lights on at {level} %"),
    "light.level": ("Đặt độ sáng đèn {level} %", "Lights set to {level} %"),
    "light.off": ("Tắt đèn", "Lights off"),
    "speaker.volume": ("Chỉnh âm lượng loa", "Speaker volume"),
    "speaker.volume_level": ("Chỉnh âm lượng loa {level} %", "Speaker volume set to {level} %"),
    "speaker.play": ("Phát trên loa", "Speaker play"),
    "speaker.stop": ("Dừng loa", "Speaker stop"),
    "announcement.create": ("Phát thông báo", "Announcement sent"),
    "announcement.cancel": ("Huỷ thông báo", "Announcement cancelled"),
    "audio.upload": ("Tải lên tệp âm thanh", "Audio uploaded"),
    "emergency.start": ("Bắt đầu khẩn cấp", "Emergency started"),
    "emergency.end": ("Kết thúc khẩn cấp", "Emergency ended"),
    "timetable.create": ("Tạo lịch đèn", "Timetable created"),
    "timetable.update": ("Sửa lịch đèn", "Timetable changed"),
    "timetable.delete": ("Xoá lịch đèn", "Timetable deleted"),
    "programme.create": ("Tạo chương trình phát", "Programme created"),
    "programme.update": ("Sửa chương trình phát", "Programme changed"),
    "programme.delete": ("Xoá chương trình phát", "Programme deleted"),
    "device.create": ("Thêm thiết bị", "Device added"),
    "device.credentials": ("Cấp lại mật khẩu thiết bị", "Device password renewed"),
    "device.accept": ("Nhận thiết bị", "Device accepted"),
    "device.reject": ("Từ chối thiết bị", "Device rejected"),
    "device.retire": ("Ngừng dùng thiết bị", "Device retired"),
    "device.update": ("Sửa thiết bị", "Device changed"),
    "zone.create": ("Tạo khu vực", "Zone created"),
    "zone.rename": ("Đổi tên khu vực", "Zone renamed"),
    "zone.delete": ("Xoá khu vực", "Zone deleted"),
    "user.create": ("Tạo tài khoản", "Account created"),
    "user.update": ("Sửa tài khoản", "Account changed"),
    "area.create": ("Tạo khu dân cư", "Area created"),
    "area.update": ("Sửa khu dân cư", "Area changed"),
    "invite.create": ("Tạo mã mời", "Invite created"),
    "invite.revoke": ("Thu hồi mã mời", "Invite revoked"),
    "auth.register": ("Cư dân đăng ký", "Resident registered"),
    "notification.share": ("Chia sẻ cảnh báo", "Alert shared"),
    "notify.channels": ("Sửa kênh thông báo", "Notification channels changed"),
    "enrolment.open": ("Mở nhận thiết bị mới", "Device enrolment opened"),
    "enrolment.close": ("Đóng nhận thiết bị mới", "Device enrolment closed"),
}

# Command statuses as counted ("39 đã xác nhận, 1 đang chờ").
_COUNTS: dict[str, tuple[str, str]] = {
    "confirmed": ("{n} đã xác nhận", "{n} confirmed"),
    "queued": ("{n} đang chờ", "{n} waiting"),
    "sent": ("{n} đã gửi", "{n} sent"),
    "timed_out": ("{n} chưa xác nhận", "{n} not confirmed"),
    "expired": ("{n} hết hạn", "{n} expired"),
    "failed": ("{n} thất bại", "{n} failed"),
    "superseded": ("{n} bị lệnh sau thay thế", "{n} replaced by a later command"),
}

_OUTCOMES: dict[str, tuple[str, str]] = {
    "created": ("Đã tạo", "Created"),
    "updated": ("Đã sửa", "Changed"),
    "unchanged": ("Không có gì thay đổi", "Nothing changed"),
    "deleted": ("Đã xoá", "Deleted"),
    "renamed": ("Đã đổi tên", "Renamed"),
    "active": ("Đang hoạt động", "Active"),
    "renewed": ("Đã cấp lại", "Renewed"),
    "stored": ("Đã lưu", "Stored"),
    "set": ("Đã lưu", "Saved"),
    "open": ("Đang mở", "Open"),
    "closed": ("Đã đóng", "Closed"),
    "revoked": ("Đã thu hồi", "Revoked"),
    "registered": ("Đã đăng ký", "Signed up"),
    "scheduled": ("Đã hẹn giờ", "Scheduled"),
    "queued": ("Chờ phát", "Waiting"),
    "playing": ("Đang phát", "Playing"),
    "done": ("Đã phát xong", "Played"),
    "interrupted": ("Bị ngắt", "Interrupted"),
    "cancelled": ("Đã huỷ", "Cancelled"),
    "failed": ("Không phát được", "Could not play"),
    "status": ("{from} → {to}", "{from} → {to}"),
    "emergency_on": ("Loa và {lights} đèn đã bật", "Speakers and {lights} lights on"),
    "restored": ("Đèn, loa và lịch đã trở lại như trước", "Lights, speakers and schedules restored"),
    "shared": ("Đã chia sẻ", "Shared"),
    "pending": ("Chờ duyệt", "Pending"),
    "rejected": ("Bị từ chối", "Rejected"),
    "retired": ("Ngừng dùng", "Retired"),
}

# A target whose name is gone: its kind and number, never "zone:2".
_KINDS: dict[str, tuple[str, str]] = {
    "zone": ("Khu vực {id}", "Zone {id}"),
    "device": ("Thiết bị {id}", "Device {id}"),
    "announcement": ("Thông báo {id}", "Announcement {id}"),
    "timetable": ("Lịch đèn {id}", "Timetable {id}"),
    "programme": ("Chương trình {id}", "Programme {id}"),
    "user": ("Tài khoản {id}", "Account {id}"),
    "invite": ("Mã mời số {id}", "Invite {id}"),
    "audio": ("Tệp âm thanh {id}", "Audio file {id}"),
    "notification": ("Cảnh báo số {id}", "Alert {id}"),
    "area": ("Khu dân cư {id}", "Area {id}"),
}

HEADERS: dict[Lang, list[str]] = {
    "vi": [
        "Thời gian",
        "Người thực hiện",
        "Thao tác",
        "Đối tượng",
        "Kết quả",
        "Mã thao tác",
        "Mã đối tượng",
        "Số",
    ],
    "en": ["Time", "Done by", "Action", "Target", "Result", "Action code", "Target id", "Entry"],
}

SYSTEM = {"vi": "Hệ thống", "en": "System"}


def _pick(pair: tuple[str, str], lang: Lang, **values: object) -> str:
    text = pair[0] if lang == "vi" else pair[1]
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text


def action_text(view: AuditView, lang: Lang) -> str:
    """The action as people say it ("Bật đèn 70 %"); one it does not know, by its code."""
    action, params = view.entry.action, view.entry.params or {}
    if action == "light.set":
        on, level = params.get("on"), params.get("level")
        if on is False:
            action = "light.off"
        elif level is not None:
            action = "light.on_level" if on else "light.level"
        else:
            action = "light.on"
        return _pick(_ACTIONS[action], lang, level=level)
    if action == "speaker.volume" and params.get("level") is not None:
        return _pick(_ACTIONS["speaker.volume_level"], lang, level=params["level"])
    if action in _ACTIONS:
        return _pick(_ACTIONS[action], lang)
    return _pick(("Thao tác “{code}”", "Action “{code}”"), lang, code=action)


def target_text(view: AuditView, lang: Lang) -> str:
    if view.target_name:
        return view.target_name
    if view.target_kind in _KINDS and view.target_id:
        return _pick(_KINDS[view.target_kind], lang, id=view.target_id)
    return view.target_id or ""


def result_text(view: AuditView, lang: Lang) -> str:
    """Counts as "39 đã xác nhận, 1 đang chờ"; a result it cannot read, as stored."""
    out = view.outcome
    if out.counts is not None:
        return ", ".join(
            _pick(_COUNTS.get(status, (f"{{n}} {status}", f"{{n}} {status}")), lang, n=n)
            for status, n in sorted(out.counts.items(), key=lambda kv: (-kv[1], kv[0]))
        )
    if out.code == "status":
        words = {k: _pick(_OUTCOMES.get(str(v), (str(v), str(v))), lang) for k, v in out.values.items()}
        return _pick(_OUTCOMES["status"], lang, **words)
    if out.code in _OUTCOMES:
        return _pick(_OUTCOMES[out.code], lang, **out.values)
    return view.entry.result


def actor_text(view: AuditView, lang: Lang) -> str:
    return SYSTEM[lang] if view.entry.actor_id is None and view.actor_name == "system" else view.actor_name


def language(lang: Lang | None, accept_language: str | None) -> Lang:
    """``lang`` when given, else the first of vi/en the browser asks for; Vietnamese by default."""
    if lang == "en":
        return "en"
    if lang == "vi":
        return "vi"
    tags = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        tags.append((-weight, i, tag.split("-")[0].lower()))
    for _, _, primary in sorted(tags):
        if primary == "en":
            return "en"
        if primary == "vi":
            return "vi"
    return "vi"
