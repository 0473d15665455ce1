"""All configuration, read once from ``KHU_*`` environment variables (or ``.env``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from devices.mqtt_client import Credentials
from hub.broker.bootstrap import read_credentials


class SettingsError(RuntimeError):
    """A setting points at something missing or unreadable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KHU_", env_file=".env", extra="ignore")

    state_dir: Path = Field(Path("var"), description="runtime data: database, broker data, logs")
    database_url: str = Field("", description="SQLAlchemy URL; empty means SQLite in state_dir")
    db_busy_timeout_s: float = Field(15, gt=0, description="how long to wait for a busy database before 503")

    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(18830, ge=1, le=65535)
    mqtt_username: str | None = Field(
        None, description="the hub's broker account, if not in mqtt_password_file"
    )
    mqtt_password: SecretStr | None = None
    mqtt_password_file: Path | None = Field(
        None, description="JSON file with the hub's broker username and password, as `khu broker` writes it"
    )
    mqtt_client_id: str = Field("khu-hub", min_length=1, max_length=64)
    replica_group: str | None = Field(
        None,
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="hubs of one group share the device traffic (MQTT shared subscriptions) and tell "
        "each other what they ingested; every replica needs its own broker account (khu hub-account) "
        "and the same database (PostgreSQL) and secret key",
    )
    mqtt_device_host: str = Field(
        "", description="the broker address devices are told to dial; default: the host of public_url"
    )
    mosquitto_bin: str = "mosquitto"
    mosquitto_dynsec_plugin: str | None = Field(
        None, description="path of mosquitto_dynamic_security.so when not in Debian's place"
    )

    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=1, le=65535)
    public_url: str = Field("", description="URL residents and speakers reach the hub at")

    secret_key: SecretStr | None = Field(None, description="JWT signing key; generated in state_dir if unset")
    access_token_minutes: int = Field(15, ge=1, le=1440)
    refresh_token_days: int = Field(30, ge=1, le=365)
    session_hours: int = Field(12, ge=1, le=24 * 30)
    cookie_secure: bool = Field(True, description="send the session cookie over HTTPS only (and localhost)")
    login_failures_per_user: int = Field(5, ge=1)
    login_failures_per_ip: int = Field(30, ge=1)
    login_window_s: int = Field(300, ge=1)
    device_cookie_days: int = Field(
        365, ge=1, le=3650, description="a device that logged in is known this long (it escapes lock-outs)"
    )
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For and "
        "X-Forwarded-Proto are believed; empty: none (the connection's address counts)",
    )
    http_json_max_bytes: int = Field(
        64 * 1024, ge=1024, description="largest request body (JSON or form) of most routes"
    )
    http_schedule_max_bytes: int = Field(
        2 * 1024 * 1024, ge=1024, description="largest timetable body (366 exception dates of 24 steps fit)"
    )
    api_cache_s: float = Field(
        2.0,
        ge=0,
        le=60,
        description="how long the API trusts an account, area or device it read; changes made by "
        "another process (the khu CLI, a second hub) show within this",
    )

    command_wait_ms: int = Field(3000, ge=0, le=30_000, description="how long a command request waits")
    command_ttl_s: int = Field(
        900, ge=1, le=7 * 86400, description="how long a command waits for an offline device"
    )

    scheduler_enabled: bool = Field(True, description="run schedules (one hub at a time holds the lease)")
    scheduler_lease_s: float = Field(
        15, gt=0, description="a standby takes over this long after the holder died"
    )
    scheduler_renew_s: float = Field(
        5, gt=0, description="how often the lease is renewed and jobs reconciled"
    )
    timetable_lead_ms: int = Field(
        500, ge=0, le=5000, description="lighting steps are worked out this long ahead, sent at their instant"
    )

    broadcast_sync_lead_ms: int = Field(
        500,
        ge=50,
        le=10_000,
        description="speakers of a broadcast all start this long after it is sent (time to deliver the "
        "play and fetch and decode the audio: raise it for speakers on slow links)",
    )
    broadcast_play_grace_s: int = Field(
        60,
        ge=5,
        le=3600,
        description="a play expires this long after its start time: a speaker whose clock is off by "
        "less, or that gets it late, still plays it",
    )
    broadcast_end_grace_s: float = Field(
        10, gt=0, description="after the audio's length, silence means no answer"
    )
    audio_max_bytes: int = Field(20_000_000, ge=1000, description="largest audio upload")
    audio_max_duration_s: int = Field(900, ge=1, description="longest announcement")
    audio_min_free_mb: int = Field(50, ge=0, description="refuse new audio below this much free disk")

    default_timezone: str = "Asia/Ho_Chi_Minh"
    log_level: str = "INFO"
    log_json: bool = Field(False, description="one JSON object a log line, with command ids")

    ingest_batch_max: int = Field(1000, ge=1, le=100_000)
    ingest_flush_ms: int = Field(0, ge=0, le=5000, description="linger for a fuller batch")
    ingest_queue_max: int = Field(50_000, ge=100)

    notify_poll_s: float = Field(
        1.0, gt=0, le=60, description="how often the delivery worker looks for retries that fell due"
    )
    notify_batch: int = Field(50, ge=1, le=1000, description="deliveries claimed per round")
    notify_threads: int = Field(4, ge=1, le=32, description="deliveries sent at once")
    notify_retry_base_s: float = Field(30, gt=0, description="first retry delay; doubles each attempt")
    notify_retry_max_s: float = Field(3600, gt=0, description="longest delay between two attempts")
    notify_max_attempts: int = Field(8, ge=1, le=100, description="attempts before a delivery fails")
    notify_claim_s: float = Field(
        300, gt=0, description="a delivery a crashed hub was sending is retried after this long"
    )
    notify_apprise_timeout_s: float = Field(15, gt=0, le=300)
    push_vapid_private_key: SecretStr | None = Field(
        None, description="VAPID private key (PEM or raw base64url); generated in state_dir if unset"
    )
    push_vapid_subject: str = Field(
        "", description="VAPID contact (mailto: or https:); public_url when https, else a placeholder"
    )
    push_ttl_s: int = Field(86400, ge=0, le=28 * 86400, description="how long a push service keeps a message")
    push_timeout_s: float = Field(10, gt=0, le=120)
    push_allow_private_endpoints: bool = Field(
        False, description="accept push endpoints on loopback or private addresses (tests, labs)"
    )
    notify_allow_private_urls: bool = Field(
        False, description="accept Apprise channel URLs on loopback or private addresses (tests, labs)"
    )
    camera_alert_debounce_s: float = Field(
        120, ge=0, description="a camera offline this long alerts the head; shorter flaps do not"
    )
    incident_window_s: float = Field(
        60, ge=0, description="outages of one area starting this close to the first are one incident"
    )
    notify_cap_per_minute: int = Field(
        6,
        ge=0,
        description="non-emergency notifications a recipient gets a minute; the rest fold (0: no cap)",
    )

    # Retention (hub.storage.retention): rows older than this many days are purged; 0 keeps them forever.
    retention_events_days: int = Field(90, ge=0, description="device events (motion, faults)")
    retention_commands_days: int = Field(90, ge=0, description="finished commands (open ones stay)")
    retention_notifications_days: int = Field(180, ge=0, description="notifications and their deliveries")
    retention_outages_days: int = Field(365, ge=0, description="ended camera outages and incidents")
    retention_schedule_runs_days: int = Field(90, ge=0, description="schedule runs (what each firing did)")
    retention_audit_days: int = Field(730, ge=0, description="the audit log: who did what")
    retention_broadcasts_days: int = Field(
        730, ge=0, description="announcements and their speaker deliveries (the proof of broadcast)"
    )
    retention_interval_s: float = Field(3600, gt=0, description="how often the purge runs")
    retention_batch: int = Field(2000, ge=1, le=20_000, description="rows deleted per transaction")
    retention_pause_ms: int = Field(
        50, ge=0, le=10_000, description="pause between two batches: the ingest writer's turn"
    )

    def mqtt_credentials(self) -> Credentials | None:
        """The hub's broker account: the password file wins over the separate settings."""
        if self.mqtt_password_file is not None:
            try:
                return read_credentials(self.mqtt_password_file)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise SettingsError(
                    f"cannot read the hub's broker account from KHU_MQTT_PASSWORD_FILE="
                    f"{self.mqtt_password_file} ({exc!r}); it is written by the broker's first start "
                    "(khu up or khu broker) into <state dir>/broker/hub-credentials.json"
                ) from None
        if self.mqtt_username is None:
            return None
        password = self.mqtt_password.get_secret_value() if self.mqtt_password else ""
        return Credentials(self.mqtt_username, password)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.state_dir / 'khu.db').resolve()}"

    @property
    def base_url(self) -> str:
        return self.public_url or f"http://{self.http_host}:{self.http_port}"

    @property
    def device_broker_host(self) -> str:
        """Where a device's MQTT settings page should point."""
        return self.mqtt_device_host or urlsplit(self.base_url).hostname or self.mqtt_host


@lru_cache
def get_settings() -> Settings:
    return Settings()
