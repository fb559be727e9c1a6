"""`.env.example` lists every setting, and a copy of it as `.env` starts the service as it is."""

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from bot import settings as settings_module
from bot.settings import Settings

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"


def setting_classes() -> list[type[BaseSettings]]:
    return [
        value
        for value in vars(settings_module).values()
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings
    ]


def test_every_setting_is_listed_with_a_comment() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    listed = {
        line.split("=", 1)[0]: number for number, line in enumerate(lines) if re.match(r"^[A-Z_]+=", line)
    }
    missing = []
    uncommented = []
    for cls in setting_classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name in cls.model_fields:
            variable = f"{prefix}{name}".upper()
            if variable not in listed:
                missing.append(variable)
                continue
            number = listed[variable]
            above = [line for line in lines[:number] if line.strip()][-1:]
            if not above or not (above[0].startswith("#") or re.match(r"^[A-Z_]+=", above[0])):
                uncommented.append(variable)
    assert missing == []
    assert uncommented == []


def test_a_copy_of_the_example_as_dotenv_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    loaded = Settings()
    assert not loaded.telegram.enabled
    assert not loaded.whatsapp.enabled
    assert loaded.store.data_dir == Path("data")
    assert loaded.service.default_language == "id"


def test_no_secret_in_the_example() -> None:
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        if re.match(r"^DINSOS_\w*(TOKEN|SECRET|KEY|PASSWORD)\w*=", line):
            assert line.split("=", 1)[1] == "", f"{line.split('=')[0]} must be empty in the example"
