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


class Settings:
    """All settings of one service instance, grouped by concern."""

    def __init__(
        self,
        store: StoreSettings | None = None,
        service: ServiceSettings | None = None,
    ) -> None:
        self.store = store or StoreSettings()
        self.service = service or ServiceSettings()
