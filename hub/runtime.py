"""The hub's long-lived parts wired together: database, ingest writer, MQTT link."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from devices import topics
from devices.codec import Codec
from devices.messages import CommandOrder, Outbound
from devices.mqtt_client import LinkConfig, MqttLink, Received
from devices.payloads import Priority
from devices.protocols import all_codecs
from hub.api.device_views import DeviceViews
from hub.audit import ResultWriter
from hub.auth.cache import AuthCache
from hub.auth.login_limiter import LoginLimiter
from hub.auth.tokens import TokenIssuer, load_secret
from hub.broadcasts.announce import announce
from hub.broadcasts.audio import AudioStore
from hub.broadcasts.audio_links import AudioLinks
from hub.broadcasts.emergency import EmergencyService
from hub.broadcasts.models import AudioAsset, BroadcastProgramme
from hub.broadcasts.service import BroadcastService
from hub.broker.accounts import RESPONSE_TOPIC, BrokerAccounts
from hub.commands.factory import ACTION_OF
from hub.commands.service import CommandService
from hub.db import make_engine, make_sessionmaker
from hub.live import LiveHub
from hub.metrics import CommandMetrics, DevicesOnline, HubMetrics, ScheduleMetrics
from hub.models import Area
from hub.notifications import CameraAlerts, NotificationMetrics, NotificationService
from hub.registry.codec_router import CodecRouter
from hub.registry.device_accounts import DeviceAccounts
from hub.registry.enrolment_windows import EnrolmentWindows
from hub.registry.ingest import Ingestor
from hub.registry.store import RegistryStore
from hub.replicas import ReplicaPeers, shared
from hub.settings import Settings
from hub.storage.faults import StorageProbe
from hub.storage.retention import Retention
from hub.storage.state_files import prepare_state, sqlite_path
from schedules.engine import ScheduleEngine

log = logging.getLogger(__name__)


class HubRuntime:
    retention: Retention | None = None  # made by start(): __init__ is at ruff's statement limit

    def __init__(self, settings: Settings, codecs: list[Codec] | None = None) -> None:
        self.settings = settings
        prepare_state(settings)  # private permissions; refuses a database it cannot write
        self.engine: Engine = make_engine(settings.db_url, settings.db_busy_timeout_s)
        self.storage = StorageProbe(
            settings.state_dir, settings.state_dir / "audio", sqlite_path(settings.db_url)
        )
        self.sessions: sessionmaker[Session] = make_sessionmaker(self.engine)
        self.auth_cache = AuthCache(self.sessions, settings.api_cache_s)
        self.device_views = DeviceViews(self.sessions, settings.api_cache_s)
        self.audit_results = ResultWriter(self.sessions)
        self.metrics = HubMetrics()
        secret = load_secret(settings)
        self.tokens = TokenIssuer(secret)
        self.login_limiter = LoginLimiter(
            settings.login_failures_per_user, settings.login_failures_per_ip, settings.login_window_s
        )
        self.codecs: list[Codec] = codecs or all_codecs()
        self.codec_router = CodecRouter(self.sessions, self.codecs)
        self.store = RegistryStore(self.engine, replica=settings.replica_group is not None)
        self.ingestor = Ingestor(
            self.codecs,
            self.store,
            self.metrics,
            batch_max=settings.ingest_batch_max,
            flush_ms=settings.ingest_flush_ms,
            queue_max=settings.ingest_queue_max,
        )
        account = settings.mqtt_credentials()
        if account is not None and account.username != settings.mqtt_client_id:
            log.warning(
                "the broker binds account %s to client id %s; KHU_MQTT_CLIENT_ID=%s will be refused",
                account.username,
                account.username,
                settings.mqtt_client_id,
            )
        self.peers = ReplicaPeers.of(settings, self._publish, self.metrics)
        self.link = MqttLink(
            LinkConfig(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                client_id=settings.mqtt_client_id,
                username=account.username if account else None,
                password=account.password if account else None,
                persistent=True,
                manual_ack=True,
                will=Outbound(topics.HUB_STATUS_TOPIC, b"offline", qos=1, retain=True),
                birth=Outbound(topics.HUB_STATUS_TOPIC, b"online", qos=1, retain=True),
                subscriptions=self._subscriptions(),
            ),
            on_message=self._on_message,
            on_connected=self._link_up,
            on_disconnected=lambda: self.metrics.connected.set(0),
        )
        self.ingestor.set_ack(self.link.ack)
        self.accounts = BrokerAccounts(f"{settings.mqtt_host}:{settings.mqtt_port}")
        self.accounts.attach(self.link)
        self.enrolment_windows = EnrolmentWindows(self.accounts, self.sessions)
        self.device_accounts = DeviceAccounts(self.accounts, self.link.publish, self.codec_router)
        self.ingestor.on_claims = self.device_accounts.on_claims
        self.commands = CommandService(self.sessions, self.send)
        # Live streams hear of a batch first, so a phone sees the new state before the
        # confirmation of the command that caused it.
        self.live = LiveHub()
        for listener in (
            self.codec_router.on_changes,
            self.live.on_changes,
            self.device_views.on_changes,
            self.commands.on_changes,
        ):
            self.ingestor.add_listener(listener)
        self.commands.add_listener(self.live.on_outcome)
        self.command_metrics = self._measure_commands()
        DevicesOnline(self.sessions, self.metrics.registry)
        self.schedules = ScheduleEngine(
            self.engine,
            self.sessions,
            self.commands,
            settings.scheduler_lease_s,
            settings.scheduler_renew_s,
            settings.timetable_lead_ms / 1000,
        )
        self.ingestor.add_listener(self.schedules.on_changes)
        self._measure_schedules()
        notify_metrics = NotificationMetrics(self.metrics.registry)
        self.notifications = NotificationService(settings, self.sessions, notify_metrics, secret)
        self.camera_alerts = CameraAlerts(
            self.sessions,
            self.notifications,
            notify_metrics,
            settings.camera_alert_debounce_s,
            settings.incident_window_s,
        )
        self.ingestor.add_listener(self.camera_alerts.on_changes)
        self.audio = AudioStore(
            settings.state_dir / "audio",
            settings.audio_max_bytes,
            settings.audio_max_duration_s,
            settings.audio_min_free_mb * 1024 * 1024,
        )
        self.broadcasts = BroadcastService(
            self.sessions,
            self.commands,
            AudioLinks(settings, secret),
            settings.broadcast_sync_lead_ms,
            settings.broadcast_end_grace_s,
        )
        self.ingestor.add_listener(self.broadcasts.on_changes)
        self.broadcasts.notifier = self.notifications.notify_residents
        self.schedules.announcer = self._programme_announcement
        self.schedules.runs.on_missed = self._report_missed
        self._join_replicas()
        self.emergency = EmergencyService(
            self.sessions, self.audio, self.broadcasts, self.commands, self.schedules.restore
        )
        self._stopped = False

    def start(self) -> None:
        self.audit_results.start()
        self.notifications.start()
        self.camera_alerts.start()
        self.ingestor.start()
        self.commands.start()
        self.broadcasts.start()
        self.link.start()
        self.enrolment_windows.start()
        self.retention = Retention(self.settings, self.engine, self.metrics.registry)
        self.retention.start()
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
        self.enrolment_windows.stop()
        if self.retention is not None:
            self.retention.stop()
        if self.link.connected:
            if self.peers is not None:
                # Leaving on purpose, a replica hands its turn to the others; the broker keeps
                # giving a dead one its turn, held in its session until it comes back.
                self.link.unsubscribe(self._report_filters(), timeout=2)
            self.link.publish(Outbound(topics.HUB_STATUS_TOPIC, b"offline", qos=1, retain=True))
        self.link.stop()
        self.broadcasts.stop()
        self.commands.stop()
        self.ingestor.stop()
        self.camera_alerts.stop()
        self.notifications.stop()
        self.audit_results.stop()
        self.engine.dispose()

    def _link_up(self) -> None:
        self.metrics.connected.set(1)
        self.schedules.local.link_up(int(time.time() * 1000))

    def _measure_commands(self) -> CommandMetrics:
        metrics = CommandMetrics(self.metrics.registry)
        self.commands.add_listener(lambda o, _area: metrics.finished(o.command_id, o.status.value))
        return metrics

    def _measure_schedules(self) -> None:
        metrics = ScheduleMetrics(self.metrics.registry)
        self.schedules.runs.on_record = lambda kind, outcome: metrics.runs.labels(kind, outcome).inc()

    def _report_filters(self) -> list[str]:
        """Every protocol's reports, spread over the replicas if this hub is one."""
        filters = [f for codec in self.codecs for f in codec.subscriptions()]
        return [shared(f, self.peers.group) for f in filters] if self.peers else filters

    def _subscriptions(self) -> list[str]:
        """The reports, what replicas tell each other, and the broker's answers to account changes.

        Account changes are answered on the main link: a second connection would need a second
        client id, and every account is bound to one.
        """
        filters = self._report_filters()
        if self.peers is not None:
            # Every replica hears the hub's status, to answer another one's Last Will.
            filters += [self.peers.subscription, topics.HUB_STATUS_TOPIC]
        return [*filters, RESPONSE_TOPIC]

    def _join_replicas(self) -> None:
        """What another replica ingested reaches the views here; once-only work needs the lease."""
        peers = self.peers
        if peers is None:
            return
        self.ingestor.add_listener(peers.on_changes)
        for listener in (
            self.store.heard_elsewhere,
            self.codec_router.on_changes,
            self.live.on_changes,
            self.device_views.on_changes,
            self.commands.on_peer_changes,
            self.schedules.on_changes,
            self.camera_alerts.on_changes,
        ):
            peers.add_listener(listener)
        leads = self.schedules.is_active
        self.camera_alerts.leads = leads
        self.broadcasts.leads = leads
        self.schedules.on_activated = self.camera_alerts.resume

    def _publish(self, out: Outbound) -> bool:
        return self.link.publish(out)

    def _on_message(self, msg: Received) -> None:
        if msg.topic == RESPONSE_TOPIC:
            self.accounts.on_response(msg)
        elif self.peers is not None and self.peers.owns(msg.topic):
            self.peers.on_message(msg)
        elif msg.topic == topics.HUB_STATUS_TOPIC:
            # A replica that died left "offline" for the devices; the hub is still up.
            if self.peers is not None and msg.payload == b"offline" and not self._stopped:
                self.link.publish(Outbound(topics.HUB_STATUS_TOPIC, b"online", qos=1, retain=True))
        else:
            self.ingestor.handle(msg)
            return
        if msg.qos:
            self.link.ack([(msg.mid, msg.qos)])

    def _programme_announcement(self, programme: BroadcastProgramme, area: Area) -> None:
        """A programme is due: the same path as an announcement sent from the phone."""
        with self.sessions.begin() as session:
            announce(
                session,
                self.audio,
                self.broadcasts,
                area,
                title=programme.title,
                text=programme.text,
                audio_id=programme.audio_id,
                zone_ids=programme.zone_ids,
                priority=Priority(programme.priority),
                not_before=None,
                user=None,
                source="programme",
            )
        self.broadcasts.wake()

    def _report_missed(self, kind: str, area_id: int, name: str, planned: datetime) -> None:
        """The area head hears of every broadcast missed while the hub was down (lights are re-applied)."""
        if kind != "programme":
            return
        what = "Chương trình phát thanh"  # broadcast programme
        when = planned.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        self.notifications.notify_staff(
            area_id,
            f"{what} bị lỡ: {name}",
            f"Không chạy lúc {when} vì hệ thống ngừng hoạt động.",
            Priority.PRIORITY,
            ref=f"{kind}-missed",
            kind="alert",
        )

    @property
    def audio_links(self) -> AudioLinks:
        """Signed audio addresses for plays; checks the tokens speakers bring."""
        return self.broadcasts.links

    def audio_url(self, asset: AudioAsset) -> str:
        """Where the app and API clients fetch an announcement's audio (with a login)."""
        return self.audio_links.plain(asset)

    def send(self, order: CommandOrder) -> bool:
        """Encode a command with the device's codec and hand it to the broker."""
        codec = self.codec_router.codec_for(order.area, order.device)
        command = order.command
        self.command_metrics.sent(command.id, ACTION_OF.get(type(command), command.action))
        try:
            out = codec.encode(order)
        except ValueError as exc:  # an order this device's protocol cannot carry
            log.warning("command %s to %s/%s not sent: %s", command.id, order.area, order.device, exc)
            return False
        ok = self.link.publish(out)
        if ok:
            self.metrics.messages_out.inc()
        log.debug(
            "command %s %s to %s/%s %s",
            command.id,
            command.action,
            order.area,
            order.device,
            "published" if ok else "refused",
            extra={"command_id": command.id, "area": order.area, "device": order.device},
        )
        return ok

    def database_ok(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return True
        except Exception as exc:
            log.warning("database check failed: %s", exc)
            return False
