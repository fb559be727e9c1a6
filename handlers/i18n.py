"""Message catalogs: every user-facing sentence, per language, from `handlers/locales/*.toml`."""

import string
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

LOCALES_DIR = Path(__file__).parent / "locales"
LANGUAGES = ("id", "en")
DEFAULT_LANGUAGE = "id"


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def placeholders(text: str) -> set[str]:
    """Names of the `{placeholders}` in a catalog string."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


class Catalog:
    """Looks up and fills catalog strings by key and language."""

    def __init__(self, messages: dict[str, dict[str, str]]) -> None:
        self.messages = messages

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> "Catalog":
        """Read every language's TOML file."""
        messages = {}
        for language in LANGUAGES:
            with (directory / f"{language}.toml").open("rb") as handle:
                messages[language] = _flatten(tomllib.load(handle))
        return cls(messages)

    def text(self, language: str, key: str, **params: object) -> str:
        """The sentence `key` in `language`, with its placeholders filled."""
        table = self.messages.get(language) or self.messages[DEFAULT_LANGUAGE]
        template = table[key]
        return template.format(**params) if params else template

    def has(self, key: str) -> bool:
        """Whether `key` exists (in the default language)."""
        return key in self.messages[DEFAULT_LANGUAGE]

    def all_languages(self, key: str) -> list[str]:
        """The sentence `key` in every language (for matching typed words)."""
        return [table[key] for table in self.messages.values() if key in table]
