"""New devices announcing themselves through an area's enrolment account (docs/protocol.md §9.2).

``khu/enrol/<area>/<device>``, QoS 1, not retained: the device's ``info`` document with one
more field, ``secret``: the password the device chose for the account it will get when the
area head accepts it. Only the hub reads these topics, so the secret travels once, from the
device to the hub; the device then tries to connect as ``<area>.<device>`` with it until the
broker lets it in. Nothing comes back over the enrolment account: it can only write.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, ValidationError

from devices.codec import DeviceTopics
from devices.messages import (
    CommandOrder,
    Decoded,
    InfoReport,
    Outbound,
    Rejected,
    RejectReason,
    Source,
)
from devices.payloads import DeviceInfo
from devices.protocols.common import check_size, ident

NAME = "enrolment"
ROOT = "khu/enrol"
NATIVE = "native"


class Announcement(DeviceInfo):
    """A native device's info, with the password it chose (24 to 128 URL-safe characters)."""

    secret: Annotated[str, Field(min_length=24, max_length=128, pattern=r"^[A-Za-z0-9_.~-]+$")]


def enrol_topic(area: str, device: str) -> str:
    return f"{ROOT}/{area}/{device}"


class EnrolmentCodec:
    name = NAME

    def subscriptions(self) -> list[str]:
        return [f"{ROOT}/+/+"]

    def claims(self, topic: str) -> bool:
        return topic.startswith(ROOT + "/")

    def decode(self, topic: str, payload: bytes) -> Decoded:
        parts = topic.split("/")
        if len(parts) != 4:
            raise Rejected(RejectReason.BAD_TOPIC, f"not {ROOT}/<area>/<device>: {topic[:200]!r}")
        area, device = ident(parts[2], "area"), ident(parts[3], "device")
        check_size(payload)
        try:
            ann = Announcement.model_validate_json(payload)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in err["loc"]) or "payload"
            reason = RejectReason.MALFORMED_JSON if err["type"] == "json_invalid" else RejectReason.INVALID
            raise Rejected(reason, f"{where}: {err['msg']}") from None
        info = DeviceInfo.model_validate(ann.model_dump(exclude={"secret"}))
        # A device behind a gateway is announced by its gateway, not here.
        if info.via is not None:
            raise Rejected(RejectReason.INVALID, "an enrolling device connects directly: via must be empty")
        return InfoReport(Source(area, device, NATIVE, unverified=True), info, ann.secret)

    def encode(self, order: CommandOrder) -> Outbound:
        raise ValueError("nothing is sent over the enrolment topics")

    def hub_publishes(self) -> list[str]:
        return []

    def device_topics(self, area: str, device: str, gateway: bool) -> DeviceTopics:
        return DeviceTopics((), ())

    def offline(self, area: str, device: str) -> Outbound | None:
        return None

    def setup(self, area: str, device: str, username: str, password: str, host: str, port: int) -> list[str]:
        return []
