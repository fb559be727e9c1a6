"""Settings, read from the environment or a `.env` file (see `.env.example`)."""

from datetime import time
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.location import is_postgresql_url


class StoreSettings(BaseSettings):
    """Where and how the service keeps its data."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    data_dir: Path = Path("data")
    secret_key: SecretStr | None = None
    # Unset: the SQLite file in the data directory. `postgresql://user:password@host:port/dbname`: that
    # PostgreSQL database (several service processes may share it).
    database_url: SecretStr | None = None
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"
    reader_connections: int = Field(default=2, ge=1, le=8)
    # PostgreSQL: connections of the read pool, and writer threads (each one connection; with one,
    # this process commits its writes in the order they are queued, as with SQLite).
    database_pool_size: int = Field(default=8, ge=1, le=64)
    database_writers: int = Field(default=1, ge=1, le=8)

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not is_postgresql_url(value.get_secret_value()):
            raise ValueError("must start with postgresql:// (leave it unset for the SQLite file)")
        return value

    @property
    def postgresql_url(self) -> str | None:
        """The PostgreSQL database's URL, or None when the store is the SQLite file."""
        return None if self.database_url is None else self.database_url.get_secret_value()

    # Message history retention. Inbound message ids are kept this many days to recognise a platform's
    # redelivery (WhatsApp retries a webhook for up to 7 days), then deleted.
    retention_inbound_days: float = Field(default=8.0, ge=1)
    # Outbound messages not about a case are deleted this many days after they were delivered (or
    # failed); a broadcast's or reminder's rows keep their status but lose their text. Cases, their
    # threads and the messages about a case are kept.
    retention_outbox_days: float = Field(default=30.0, ge=1)
    # How often the prune runs, and the rows it removes per short write transaction.
    retention_every_minutes: float = Field(default=60.0, gt=0)
    retention_batch: int = Field(default=500, ge=10, le=10_000)


class BackupSettings(BaseSettings):
    """The nightly backup the running service makes (`python -m bot backup FILE` makes one by hand)."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_BACKUP_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    # Folder of the nightly backups (kept apart from the data directory; the key is never in them).
    dir: Path = Path("backups")
    # Local time (DINSOS_TIMEZONE) of the nightly backup.
    daily_at: time = time(2, 0)
    # Nightly backups kept (older ones are deleted); 0 turns the nightly backup off.
    keep: int = Field(default=14, ge=0, le=365)


class ServiceSettings(BaseSettings):
    """How conversations behave."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    default_language: Literal["id", "en"] = "id"
    timezone: str = "Asia/Jakarta"
    resume_after_minutes: int = Field(default=120, ge=1)
    notice_version: str = "2026-12"
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    # Outbound messages on the wire at once (all channels): the most a crash can leave "in doubt".
    outbox_in_flight: int = Field(default=24, ge=1, le=256)
    # Several processes on one PostgreSQL database: each holds a lease while it lives, and one of them
    # the outreach ticker's and the Telegram poller's. A lease lasts this long unless renewed, so a
    # dead process's roles and in-flight messages are taken over within about this long.
    lease_seconds: float = Field(default=30.0, ge=1)
    # How often a process renews its leases (and tries to take free ones); well under lease_seconds.
    lease_renew_seconds: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"
    # Language of the staff command line (python -m bot staff ...): id or en; --lang overrides it.
    staff_language: Literal["id", "en"] = "id"
    # Working days within which staff act on a new case of each kind ("lewat batas" after it); the bot
    # promises the registration target to the citizen.
    target_days_registration: int = Field(default=3, ge=1, le=60)
    target_days_lost_ktp: int = Field(default=5, ge=1, le=60)
    target_days_aid: int = Field(default=3, ge=1, le=60)
    target_days_message: int = Field(default=2, ge=1, le=60)

    def target_days(self) -> dict[str, int]:
        """Per case kind, its target in working days."""
        return {
            "registration": self.target_days_registration,
            "lost_ktp": self.target_days_lost_ktp,
            "aid": self.target_days_aid,
            "message": self.target_days_message,
        }


class WebSettings(BaseSettings):
    """The HTTP server: webhooks, health, the staff dashboard and the simulator."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_WEB_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)  # 0: any free port (tests)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    # /metrics answers only requests from this machine (not through a proxy) unless this token is set;
    # then only requests with "Authorization: Bearer <token>".
    metrics_token: SecretStr | None = None
    # Addresses of the reverse proxies in front (comma separated IPs or networks, e.g. "127.0.0.1,::1").
    # Only a request from one of these may name the client's address in X-Forwarded-For.
    trusted_proxies: str = ""


class TelegramSettings(BaseSettings):
    """The Telegram channel (python-telegram-bot); off while no token is set."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_TELEGRAM_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    staff_chat_id: int | None = None
    # Staff allowed to act, as "user_id:role" pairs separated by commas, e.g. "1234:petugas,5678:admin".
    staff: str = ""
    rate_per_second: float = Field(default=30.0, gt=0)
    per_chat_interval_seconds: float = Field(default=1.0, ge=0)
    # Messages one chat may receive ahead of that interval in a quick exchange (Telegram tolerates short
    # bursts in a private chat): a person answering at once is never kept waiting; bulk gets no burst.
    per_chat_burst: int = Field(default=20, ge=1, le=60)
    # Seconds a cosmetic call (the chosen answer shown under a pressed question, an old keyboard taken
    # away) may wait for a slot nobody else needs; past that it is skipped, so replies keep the budget.
    cosmetic_wait_seconds: float = Field(default=2.0, ge=0, le=60)
    # Seconds between two messages to the staff group (Telegram allows about 20 per minute in a group).
    group_interval_seconds: float = Field(default=3.0, ge=0)
    # Path of the webhook on this server; DINSOS_TELEGRAM_WEBHOOK_URL is its public address.
    webhook_path: str = "/webhooks/telegram"
    # Long-polling wait of one getUpdates call (seconds).
    poll_timeout_seconds: int = Field(default=30, ge=0, le=50)
    # Seconds to wait for one Bot API answer; a send that times out is recorded "unknown", never repeated.
    request_timeout_seconds: float = Field(default=10.0, gt=0)
    # Attempts per message while Telegram answers 429 (each after its retry_after); then "failed".
    max_send_attempts: int = Field(default=5, ge=1, le=20)
    # Updates of different people handled at the same time (one person's updates stay in order).
    concurrency: int = Field(default=256, ge=1, le=4096)
    # Updates one chat may have waiting in memory; beyond that they wait in the store and are answered
    # in turn with everyone else's (a flood is logged and marked on the contact for staff).
    per_chat_backlog: int = Field(default=16, ge=1, le=1000)
    # Webhook mode: an update whose update_id skips past one not yet received waits up to this long, so
    # the missing one (delivered late or on another connection) is handled first; a person's updates
    # are handled in update_id order. Polling gets them in order and never waits. 0 = never wait.
    order_hold_ms: int = Field(default=400, ge=0, le=10_000)
    # Open connections to the Bot API.
    connection_pool_size: int = Field(default=128, ge=1, le=1024)
    # How often (seconds) the staff-card poster looks for new cases.
    staff_poll_seconds: float = Field(default=5.0, gt=0)

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return self.token is not None and bool(self.token.get_secret_value())


class WhatsAppSettings(BaseSettings):
    """The WhatsApp Cloud API channel; off while no access token is set."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_WHATSAPP_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    access_token: SecretStr | None = None
    phone_number_id: str | None = None
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    graph_base_url: str = "https://graph.facebook.com"
    graph_version: str = "v22.0"
    rate_per_second: float = Field(default=80.0, gt=0)
    bulk_pair_interval_seconds: float = Field(default=6.0, ge=0)
    template_name: str | None = None
    template_language: str = "id"
    # What fills the template body's {{1}}, {{2}}, ...: "text" (the held message on one line) or
    # "catalog:<key>" (a catalog sentence in the contact's language), comma separated; empty = none.
    template_params: str = "text"
    # An approved utility template that carries a staff member's free-text reply outside the 24-hour
    # window (its body parameters are filled as above: "text" is the reply); empty = the template above.
    reply_template_name: str | None = None
    webhook_path: str = "/webhooks/whatsapp"
    # Pause after a throughput refusal (130429: every send waits; Meta counts a sliding second), doubled
    # while refusals follow each other; also the first retry delay after a refused connection. A
    # rate-limit refusal is retried until the message goes; other failures `max_send_attempts` times.
    retry_base_seconds: float = Field(default=1.0, gt=0)
    max_send_attempts: int = Field(default=4, ge=1, le=10)
    request_timeout_seconds: float = Field(default=20.0, gt=0)
    # Webhook events handled at once (different contacts; one contact's events stay in order).
    concurrency: int = Field(default=64, ge=1, le=1024)
    # Messages one contact may have waiting in memory; beyond that they wait in the store and are
    # answered in turn with everyone else's (a flood is logged and marked on the contact for staff).
    per_contact_backlog: int = Field(default=16, ge=1, le=1000)
    # Each message waits this long after it arrived before it is handled, so that an earlier message of
    # the same person delivered a little later (Meta delivers webhooks concurrently, and retries) is
    # still handled first; a person's messages are handled by their timestamp, then arrival. 0 = none.
    order_hold_ms: int = Field(default=400, ge=0, le=10_000)

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return self.access_token is not None and bool(self.access_token.get_secret_value())


class OutreachSettings(BaseSettings):
    """Broadcasts, reminders and nudges."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_OUTREACH_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    quiet_start: time = time(21, 0)
    quiet_end: time = time(6, 0)
    appointment_day_before_time: time = time(16, 0)
    appointment_morning_time: time = time(7, 0)
    stale_after_hours: float = Field(default=12.0, gt=0)
    nudge_unfinished_after_hours: float = Field(default=3.0, gt=0)
    nudge_info_after_days: float = Field(default=2.0, gt=0)
    tick_seconds: float = Field(default=30.0, gt=0)


class DashboardSettings(BaseSettings):
    """The staff web dashboard (served by the HTTP server above)."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_DASHBOARD_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    # A signed-in staff member is signed out after this many hours without a request.
    session_idle_hours: float = Field(default=8.0, gt=0)
    # ... and after this many hours in any case.
    session_max_hours: float = Field(default=72.0, gt=0)
    # Failed sign-ins per (account, address) before delays start (1 s, doubling, up to the window), and
    # per address for all accounts together; kept in the store.
    login_attempts: int = Field(default=5, ge=1, le=100)
    login_attempts_per_address: int = Field(default=20, ge=1, le=1000)
    login_window_minutes: float = Field(default=15.0, gt=0)
    # Session cookie only over HTTPS: "always", "never", or "auto" = when the request came over HTTPS.
    secure_cookies: Literal["auto", "always", "never"] = "auto"
    # The citizen simulator page (chat as a citizen through the local "web" channel).
    simulator: bool = True
    # Rows per page in the queue, persons and audit log.
    page_size: int = Field(default=50, ge=10, le=500)


class VoiceSettings(BaseSettings):
    """Voice notes: espeak-ng (the spoken fallback) and ffmpeg (OGG/Opus), both from Debian's packages."""

    model_config = SettingsConfigDict(
        env_prefix="DINSOS_VOICE_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    # Off: contacts in voice mode get text only.
    enabled: bool = True
    espeak: str = "espeak-ng"
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    espeak_voice_id: str = "id"
    espeak_voice_en: str = "en-us"
    # Words per minute: a little slower than espeak-ng's 175, for listeners who are not used to it.
    espeak_speed: int = Field(default=145, ge=80, le=300)
    # Synthesis and conversion processes running at once.
    max_jobs: int = Field(default=2, ge=1, le=16)
    tool_timeout_seconds: float = Field(default=60.0, gt=0)
    max_recording_seconds: float = Field(default=120.0, gt=1)
    # Voice notes that speak someone's answers (names, reference numbers) are deleted after this long.
    personal_retention_hours: float = Field(default=24.0, gt=0)
    # An uploaded WhatsApp media id is reused this long (Meta keeps media 30 days), then uploaded again.
    whatsapp_media_days: float = Field(default=25.0, gt=0, le=30)


class Settings:
    """All settings of one service instance, grouped by concern."""

    def __init__(
        self,
        store: StoreSettings | None = None,
        service: ServiceSettings | None = None,
        web: WebSettings | None = None,
        telegram: TelegramSettings | None = None,
        whatsapp: WhatsAppSettings | None = None,
        outreach: OutreachSettings | None = None,
        dashboard: DashboardSettings | None = None,
        backup: BackupSettings | None = None,
        voice: VoiceSettings | None = None,
    ) -> None:
        self.store = store or StoreSettings()
        self.service = service or ServiceSettings()
        self.web = web or WebSettings()
        self.telegram = telegram or TelegramSettings()
        self.whatsapp = whatsapp or WhatsAppSettings()
        self.outreach = outreach or OutreachSettings()
        self.dashboard = dashboard or DashboardSettings()
        self.backup = backup or BackupSettings()
        self.voice = voice or VoiceSettings()
