"""The dashboard's catalog (bot/dashboard/locales): Indonesian and English complete and consistent, every
sentence the templates and pages name exists, every sentence is used, and no jargon."""

import ast
import re
from pathlib import Path
from typing import get_args

import pytest

from bot.dashboard import accounts, admin, outreach, simulator
from bot.dashboard.cases import SKILLS
from handlers.i18n import LANGUAGES, Catalog, placeholders
from handlers.staff import exports as staff_exports
from handlers.types import RequestKind
from storage.records import CaseKind, CaseStatus, OutboxStatus
from tests.test_catalog import BANNED

ROOT = Path(__file__).resolve().parent.parent / "bot" / "dashboard"
CATALOG = Catalog.load(ROOT / "locales")
TEMPLATES = sorted((ROOT / "templates").glob("*.html"))
# The dashboard's Python, and the staff service's export, which takes its column names from this catalog.
SOURCES = [*sorted(ROOT.glob("*.py")), ROOT.parent.parent / "handlers" / "staff" / "exports.py"]
SECTIONS = {key.split(".", 1)[0] for key in CATALOG.messages["id"]}

# A quoted key anywhere in a template (t("..."), has("..."), the menu's list), not a prefix joined by ~.
TEMPLATE_KEY = re.compile(r"""["']([a-z_]+\.[a-zA-Z_]+)["'](?!\s*~)""")
TEMPLATE_FAMILY = re.compile(r"""\b(?:t|has)\(\s*["']([a-z_]+\.[a-z_]*)["']\s*~""")


def template_keys() -> tuple[set[str], set[str]]:
    keys: set[str] = set()
    families: set[str] = set()
    for path in TEMPLATES:
        text = path.read_text(encoding="utf-8")
        keys.update(
            k for k in TEMPLATE_KEY.findall(text) if k.split(".")[0] in SECTIONS and not k.endswith(".html")
        )
        families.update(TEMPLATE_FAMILY.findall(text))
    return keys, families


def source_keys() -> tuple[set[str], set[str]]:
    """String literals of the dashboard's Python that name a catalog sentence, and f-string key families.

    Audit action names ("case.note") and template names ("case.html") look like keys and are left out.
    """
    keys: set[str] = set()
    families: set[str] = set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        not_keys: set[int] = set()
        for call in ast.walk(tree):
            if isinstance(call, ast.Call):
                name = (
                    call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
                )
                if name == "audit" and call.args:
                    not_keys.add(id(call.args[0]))
                not_keys.update(id(k.value) for k in call.keywords if k.arg == "action")
            if isinstance(call, ast.JoinedStr):  # the head of an f-string is a family, not a key
                not_keys.update(id(part) for part in call.values)
        for node in ast.walk(tree):
            if id(node) in not_keys:
                continue
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if (
                    re.fullmatch(r"[a-z_]+\.[a-zA-Z_]+", value)
                    and value.split(".")[0] in SECTIONS
                    and not value.endswith(".html")
                ):
                    keys.add(value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if (
                    isinstance(head, ast.Constant)
                    and isinstance(head.value, str)
                    and re.fullmatch(r"[a-z_]+\.[a-z_]*", head.value)
                    and head.value.split(".")[0] in SECTIONS
                ):
                    families.add(head.value)
    return keys, families


def test_both_languages_have_the_same_sentences_with_the_same_placeholders() -> None:
    indonesian, english = CATALOG.messages["id"], CATALOG.messages["en"]
    assert set(indonesian) ^ set(english) == set()
    differ = {key for key in indonesian if placeholders(indonesian[key]) != placeholders(english[key])}
    assert differ == set()


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_sentence_formats_and_has_no_jargon(lang: str) -> None:
    for key, template in CATALOG.messages[lang].items():
        filled = template.format(**dict.fromkeys(placeholders(template), "X"))
        assert filled.strip(), key
        assert not BANNED.search(template), (key, template)


def test_the_scan_finds_keys_in_templates_and_pages() -> None:
    keys, families = template_keys()
    assert {"login.title", "case.save_and_send", "queue.export_csv"} <= keys
    assert {"status.", "kind.", "outbox.", "role."} <= families
    py_keys, py_families = source_keys()
    assert {"login.wrong", "refused.csrf", "case.need_reason", "reminder.need_text"} <= py_keys
    assert {"export.", "account.", "done.", "simulator.sent_"} <= py_families


def test_every_sentence_the_dashboard_names_exists() -> None:
    keys, _ = template_keys()
    py_keys, _ = source_keys()
    missing = sorted(key for key in keys | py_keys if not CATALOG.has(key))
    assert missing == []


def test_every_member_of_each_family_exists() -> None:
    families: dict[str, list[str]] = {
        "status.": list(CaseStatus),
        "kind.": list(CaseKind),
        "outbox.": list(OutboxStatus),
        "role.": list(accounts.ROLES),
        "skill.": list(SKILLS),
        "export.": [*staff_exports.COLUMNS, "sheet"],
        "broadcast.state_": ["scheduled", "sending", "waiting", "done", "held", "cancelled"],
        "audit_target.": ["contact", *admin.PARTY_KINDS],
        "reminders.repeat_": ["once", "daily", "weekly", "cron"],
        "weekday.": list(outreach.WEEKDAYS),
        "rsvp.": ["invited", "confirmed", "waiting", "declined"],
        "simulator.request_": list(get_args(RequestKind)),
        "simulator.sent_": sorted(set(simulator.UPLOAD_KINDS.values()) | {"document"}),
        "case.number_": ["nik", "kk"],
        "reminder_kind.": [
            "segment",
            "recurring",
            "appointment_day_before",
            "appointment_morning",
            "programme",
        ],
        "account.": ["username", "role", "password_short", "username_taken", "no_account", "last_admin"],
        "settings.group_": ["store", "service", "web", "dashboard", "outreach", "telegram", "whatsapp"],
        "segment.language_": ["id", "en"],
        "language.": ["id", "en"],
        "origin.": ["reply", "staff", "broadcast", "reminder", "programme", "nudge"],
        "attendees.": ["number", "status", "name", "phone", "answered"],
    }
    missing = sorted(
        prefix + member
        for prefix, members in families.items()
        for member in members
        if not CATALOG.has(prefix + member)
    )
    assert missing == []
    reasons = set(re.findall(r'AccountError\("([a-z_]+)"\)', (ROOT / "accounts.py").read_text()))
    assert reasons - {"mismatch"} <= set(families["account."])


def test_every_sentence_is_used() -> None:
    keys, families = template_keys()
    py_keys, py_families = source_keys()
    # "cli." sentences belong to the staff command line (checked in tests/test_staff_cli_options.py).
    prefixes = tuple(families | py_families | {"cli."})
    unused = sorted(
        key for key in CATALOG.messages["id"] if key not in keys | py_keys and not key.startswith(prefixes)
    )
    assert unused == []
