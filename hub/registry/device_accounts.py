"""The broker's side of a device's registration: its account, its gateway's grants, its status.

The routes change the broker first and commit second; what follows a commit (the retained
``offline`` of a device whose connection the hub cut) is ``announce_offline``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from devices.messages import Outbound
from devices.mqtt_client import Credentials
from devices.payloads import Kind
from hub.broker.accounts import BrokerAccounts
from hub.broker.acls import grant_commands
from hub.models import Area, Device, DeviceStatus
from hub.registry.changes import Claim
from hub.registry.codec_router import NATIVE, CodecRouter

log = logging.getLogger(__name__)


class DeviceAccounts:
    def __init__(
        self, accounts: BrokerAccounts, publish: Callable[[Outbound], bool], codecs: CodecRouter
    ) -> None:
        self.accounts = accounts
        self._publish = publish
        self._codecs = codecs

    def provision(self, session: Session, area: Area, device: Device) -> Credentials:
        """Create or replace the device's account; a gateway's carries its accepted devices.

        A device of another protocol gets its codec's topics; a bridge of one (Zigbee2MQTT,
        Frigate) owns its whole topic tree, so it carries nothing device by device.
        """
        gateway = device.kind == Kind.GATEWAY
        if device.codec != NATIVE:
            own = self._codecs.named(device.codec).device_topics(area.code, device.device_id, gateway)
            return self.accounts.provision_device(area.code, device.device_id, Kind(device.kind), foreign=own)
        carries = _carried(session, area, device.device_id) if gateway else []
        return self.accounts.provision_device(
            area.code, device.device_id, Kind(device.kind), carries, password=device.enrol_secret
        )

    def accept(self, session: Session, area: Area, device: Device) -> Credentials:
        """A pending device becomes active: its account, and its gateway may now speak for it."""
        creds = self.provision(session, area, device)
        device.enrol_secret = None  # it has its account: the hub keeps no copy of the password
        if device.via is not None and device.codec == NATIVE:
            self.accounts.carry(area.code, device.via, device.device_id, allow=True)
        return creds

    def revoke(self, area: Area, device: Device) -> None:
        """Retire or reject: the account goes, and so does its gateway's right to speak for it."""
        self.accounts.revoke_device(area.code, device.device_id)
        device.enrol_secret = None
        if device.via is not None and device.codec == NATIVE:
            self.accounts.carry(area.code, device.via, device.device_id, allow=False)

    def cut_off(self, session: Session, area: Area, device: Device, *, closed: bool) -> list[str]:
        """The devices that lost their connection when the device's account changed.

        A device behind a gateway has an account it does not use: renewing it cuts nothing,
        but a closed (retired, rejected) device is offline for the hub all the same.
        """
        if device.kind == Kind.GATEWAY:
            behind = session.scalars(
                select(Device.device_id).where(Device.area_id == area.id, Device.via == device.device_id)
            )
            return [device.device_id, *(d for d in behind if d != device.device_id)]
        return [device.device_id] if closed or device.via is None else []

    def announce_offline(self, area: str, device_ids: list[str]) -> None:
        """Overwrite each device's retained status with ``offline``, as its Last Will would have.

        The broker drops a client whose account is deleted or replaced without publishing its
        Will. The hub's own subscription brings the ``offline`` back through ingest, the usual
        availability path (database, live streams, camera outage alerts).
        """
        for device_id in device_ids:
            out = self._codecs.codec_for(area, device_id).offline(area, device_id)
            if out is not None and not self._publish(out):
                log.warning("could not publish offline for %s/%s", area, device_id)

    def on_claims(self, claims: list[Claim]) -> None:
        """Devices registered in advance that first announced themselves through a gateway.

        One request for the whole batch, without waiting: the ingest writer calls this.
        """
        # A bridge of another protocol owns its whole topic tree: it needs no grant per device.
        native = [c for c in claims if self._codecs.codec_for(c[0], c[2]).name == NATIVE]
        if not native:
            return
        claims = native
        commands = [c for area, device, gateway in claims for c in grant_commands(area, gateway, device)]
        try:
            self.accounts.send(commands)
        except Exception as exc:  # the ingest writer must carry on
            log.error("gateways could not be let to speak for %d device(s): %s", len(claims), exc)
            return
        log.info("gateways may now speak for %d registered device(s) they announced", len(claims))


def _carried(session: Session, area: Area, gateway: str) -> list[str]:
    rows = session.scalars(
        select(Device.device_id).where(
            Device.area_id == area.id,
            Device.via == gateway,
            Device.status == DeviceStatus.ACTIVE.value,
            Device.device_id != gateway,
        )
    )
    return list(rows)
