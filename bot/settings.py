"""Settings, read from the environment or a `.env` file (see `.env.example`)."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class StoreSettings(BaseSettings):
    """Where and how the service keeps its data."""

    model_config = SettingsConfigDict(env_prefix="DINSOS_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    secret_key: SecretStr | None = None
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "FULL"
    reader_connections: int = Field(default=2, ge=1, le=8)


class ServiceSettings(BaseSettings):
    """How conversations behave."""

    model_config = SettingsConfigDict(env_prefix="DINSOS_", env_file=".env", extra="ignore")

    default_language: Literal["id", "en"] = "id"
    timezone: str = "Asia/Jakarta"
    resume_after_minutes: int = Field(default=120, ge=1)
    notice_version: str = "2026-11"
    outbox_poll_seconds: float = Field(default=2.0, gt=0)
    log_level: str = "INFO"


class WebSettings(BaseSettings):
    """The HTTP server (webhooks, health; later the dashboard)."""

    model_config = SettingsConfigDict(env_prefix="DINSOS_WEB_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    max_body_bytes: int = Field(default=1_000_000, ge=1024)


class TelegramSettings(BaseSettings):
    """The Telegram channel (python-telegram-bot); off while no token is set."""

    model_config = SettingsConfigDict(env_prefix="DINSOS_TELEGRAM_", env_file=".env", extra="ignore")

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

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return self.token is not None and bool(self.token.get_secret_value())


class WhatsAppSettings(BaseSettings):
    """The WhatsApp Cloud API channel; off while no access token is set."""

    model_config = SettingsConfigDict(env_prefix="DINSOS_WHATSAPP_", env_file=".env", extra="ignore")

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

    @property
    def enabled(self) -> bool:
        """Whether the channel is configured."""
        return self.access_token is not None and bool(self.access_token.get_secret_value())


class Settings:
    """All settings of one service instance, grouped by concern."""

    def __init__(
        self,
        store: StoreSettings | None = None,
        service: ServiceSettings | None = None,
        web: WebSettings | None = None,
        telegram: TelegramSettings | None = None,
        whatsapp: WhatsAppSettings | None = None,
    ) -> None:
        self.store = store or StoreSettings()
        self.service = service or ServiceSettings()
        self.web = web or WebSettings()
        self.telegram = telegram or TelegramSettings()
        self.whatsapp = whatsapp or WhatsAppSettings()
