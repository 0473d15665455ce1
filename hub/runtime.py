"""The hub's long-lived parts wired together: database, ingest writer, MQTT link."""

from __future__ import annotations

import logging

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.codec import Codec, NativeCodec
from devices.messages import CommandOrder, Outbound
from devices.mqtt_client import LinkConfig, MqttLink
from hub.commands import CommandService
from hub.db import make_engine, make_sessionmaker
from hub.ingest import Ingestor
from hub.live import LiveHub
from hub.login_limiter import LoginLimiter
from hub.metrics import HubMetrics
from hub.registry_store import RegistryStore
from hub.security import TokenIssuer, load_secret
from hub.settings import Settings
from schedules.engine import ScheduleEngine

log = logging.getLogger(__name__)


class HubRuntime:
    def __init__(self, settings: Settings, codecs: list[Codec] | None = None) -> None:
        self.settings = settings
        self.engine: Engine = make_engine(settings.db_url)
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.metrics = HubMetrics()
        self.tokens = TokenIssuer(load_secret(settings))
        self.login_limiter = LoginLimiter(
            settings.login_failures_per_user, settings.login_failures_per_ip, settings.login_window_s
        )
        self.codecs: list[Codec] = codecs or [NativeCodec()]
        self.store = RegistryStore(self.engine)
        self.ingestor = Ingestor(
            self.codecs,
            self.store,
            self.metrics,
            batch_max=settings.ingest_batch_max,
            flush_ms=settings.ingest_flush_ms,
            queue_max=settings.ingest_queue_max,
        )
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        subscriptions = [f for codec in self.codecs for f in codec.subscriptions()]
        self.link = MqttLink(
            LinkConfig(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                client_id=settings.mqtt_client_id,
                username=settings.mqtt_username,
                password=password,
                persistent=True,
                manual_ack=True,
                will=Outbound(topics.HUB_STATUS_TOPIC, b"offline", qos=1, retain=True),
                birth=Outbound(topics.HUB_STATUS_TOPIC, b"online", qos=1, retain=True),
                subscriptions=subscriptions,
            ),
            on_message=self.ingestor.handle,
            on_connected=lambda: self.metrics.connected.set(1),
            on_disconnected=lambda: self.metrics.connected.set(0),
        )
        self.ingestor.set_ack(self.link.ack)
        self.commands = CommandService(self.sessions, self.send)
        # Live streams hear of a batch first, so a phone sees the new state before the
        # confirmation of the command that caused it.
        self.live = LiveHub()
        self.ingestor.add_listener(self.live.on_changes)
        self.ingestor.add_listener(self.commands.on_changes)
        self.commands.add_listener(self.live.on_outcome)
        self.schedules = ScheduleEngine(
            self.engine, self.sessions, self.commands, settings.scheduler_lease_s, settings.scheduler_renew_s
        )
        self.ingestor.add_listener(self.schedules.on_changes)
        self._stopped = False

    def start(self) -> None:
        self.ingestor.start()
        self.commands.start()
        self.link.start()
        if self.settings.scheduler_enabled:
            self.schedules.start()

    def stop(self) -> None:
        """Say goodbye on the hub's status topic (a clean disconnect suppresses the Will)."""
        if self._stopped:
            return
        self._stopped = True
        if self.settings.scheduler_enabled:
            self.schedules.stop()
        self.live.stop()
        if self.link.connected:
            self.link.publish(Outbound(topics.HUB_STATUS_TOPIC, b"offline", qos=1, retain=True))
        self.link.stop()
        self.commands.stop()
        self.ingestor.stop()
        self.engine.dispose()

    def send(self, order: CommandOrder) -> bool:
        """Encode a command with the device's codec and hand it to the broker."""
        codec = next(c for c in self.codecs if c.name == "native")
        ok = self.link.publish(codec.encode(order))
        if ok:
            self.metrics.messages_out.inc()
        return ok

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("database check failed: %s", exc)
            return False
