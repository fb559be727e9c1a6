"""The message catalogs are complete, consistent with the code, and fit the chat platforms.

Keys are found two ways: statically, by reading the sources of bot/ and handlers/ for literal keys
(`t("...")`, `catalog.text(lang, "...")`, `Option(..., "label.key")`, `label_key=` and friends), and at
run time, by walking the forms and option sets the router actually uses.
"""

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from handlers import consent, language, menu, my_data, router
from handlers.choices import Option, yes_no_options
from handlers.fields import ChoiceField, IdNumberField, MultiChoiceField, _Base
from handlers.forms import _SUMMARY_OPTIONS, Form
from handlers.i18n import DEFAULT_LANGUAGE, LANGUAGES, Catalog, placeholders
from handlers.staff.errors import CODES
from storage.records import ALLOWED_TRANSITIONS, CaseKind, CaseStatus

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted([*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")])
VALIDATORS = ROOT / "handlers" / "validators.py"
CATALOG = Catalog.load()

BUTTON_LIMIT = 20  # WhatsApp reply button title
LIST_ROW_LIMIT = 24  # WhatsApp list row title
BANNED = re.compile(r"\b(?:input|submit|error|invalid)\w*|\btidak valid\b", re.IGNORECASE)


def text(key: str, lang: str = DEFAULT_LANGUAGE) -> str:
    return CATALOG.messages[lang][key]


def exists(key: str) -> bool:
    return all(key in CATALOG.messages[lang] for lang in LANGUAGES)


# ---------------------------------------------------------------- static scan of the sources


@dataclass(frozen=True)
class KeyUse:
    """One literal catalog key found in the code."""

    key: str
    where: str
    role: str  # text | label | prompt | prompt_subject | help | title | family (a key prefix)
    params: frozenset[str] | None = None  # keywords a t()/text() call passes; None: not known


KEY_ARGUMENTS = {
    "label_key": "label",
    "prompt_key": "prompt",
    "located_key": "prompt",  # AddressField: the question once a location was shared
    "help_key": "help",
    "title_key": "title",
    "message_key": "text",  # a sentence a helper fills in (handlers.outreach.tell_of_appointment)
}


def _literals(node: ast.expr) -> list[str]:
    """The strings an expression can be: a literal, or a conditional between literals."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _is_lookup_partial(node: ast.expr) -> bool:
    """`partial(catalog.text, language)` or `partial(turn.t)`: a catalog lookup under another name."""
    return (
        isinstance(node, ast.Call)
        and _name(node.func) == "partial"
        and bool(node.args)
        and _name(node.args[0]) in ("t", "text")
    )


class KeyScanner(ast.NodeVisitor):
    """Collects catalog keys from one module; a local `key = "..."` is followed into `t(key)`."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.uses: list[KeyUse] = []
        self.scopes: list[dict[str, list[str]]] = [{}]
        self.aliases: list[set[str]] = [set()]

    def _family(self, node: ast.expr, where: ast.AST) -> None:
        """`t(f"kind.{case.kind}")`: the literal head names a family of keys chosen at run time."""
        if isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and "." in head.value:
                self._add([head.value], where, "family")

    def _add(
        self, keys: Iterable[str], node: ast.AST, role: str, params: frozenset[str] | None = None
    ) -> None:
        for key in keys:
            self.uses.append(KeyUse(key, f"{self.where}:{getattr(node, 'lineno', '?')}", role, params))

    def _resolve(self, node: ast.expr) -> list[str]:
        if isinstance(node, ast.Name):
            for scope in reversed(self.scopes):
                if node.id in scope:
                    return scope[node.id]
            return []
        return _literals(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scopes.append({})
        self.aliases.append(set())
        self.generic_visit(node)
        self.scopes.pop()
        self.aliases.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        values = _literals(node.value)
        if _is_lookup_partial(node.value):  # text = partial(catalog.text, language); text("key")
            for target in node.targets:
                if isinstance(target, ast.Name):
                    self.aliases[-1].add(target.id)
        for target in node.targets:
            role = KEY_ARGUMENTS.get(_name(target))
            if role and values:
                self._add(values, node, role)
            if isinstance(target, ast.Name) and values:
                self.scopes[-1][target.id] = values
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        name = _name(node.func)
        keywords = {k.arg for k in node.keywords}
        params = None if None in keywords else frozenset(k for k in keywords if k)
        key: ast.expr | None = None
        if name == "t" and node.args:
            key = node.args[0]
        elif name == "text" and len(node.args) >= 2:
            key = node.args[1]
        elif isinstance(node.func, ast.Name) and any(name in scope for scope in self.aliases) and node.args:
            key = node.args[0]
        if key is not None:
            self._add(self._resolve(key), node, "text", params)
            self._family(key, node)
        if name == "Option" and len(node.args) >= 2:
            self._add(_literals(node.args[1]), node, "label")
        if name == "Choice" and len(node.args) >= 2:
            label = node.args[1]
            if isinstance(label, ast.Call) and _name(label.func) == "t" and label.args:
                self._add(self._resolve(label.args[0]), node, "label")
        for keyword in node.keywords:
            role = KEY_ARGUMENTS.get(keyword.arg or "")
            if role == "prompt" and "subject" in keywords:
                role = "prompt_subject"
            if role:
                self._add(_literals(keyword.value), node, role)
        self.generic_visit(node)


def scan_sources() -> list[KeyUse]:
    uses: list[KeyUse] = []
    for path in SOURCES:
        scanner = KeyScanner(str(path.relative_to(ROOT)))
        scanner.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        uses.extend(scanner.uses)
    return uses


USES = scan_sources()


def test_the_scanner_reads_every_way_of_naming_a_key() -> None:
    source = """
class F(Form):
    title_key = "a.title"

def f(turn, catalog, lang, flag):
    turn.t("a.text", x=1)
    catalog.text(lang, "a.catalog", **extra)
    key = "a.one" if flag else "a.two"
    turn.say(turn.t(key))
    say = partial(catalog.text, lang)
    say("a.alias")
    Option("k", "a.label", ("w",))
    Choice("id", turn.t("a.button"))
    Field("n", prompt_key="a.q", subject=None, label_key="a.lbl", help_key="a.help")
    Field("n", prompt_key="a.plain")
    turn.t(f"a.{flag}")
    turn.t(f"{flag}.self")
    key = "not.used"
"""
    scanner = KeyScanner("example.py")
    scanner.visit(ast.parse(source))
    found = {(use.key, use.role, use.params) for use in scanner.uses}
    assert found == {
        ("a.title", "title", None),
        ("a.text", "text", frozenset({"x"})),
        ("a.catalog", "text", None),
        ("a.one", "text", frozenset()),
        ("a.two", "text", frozenset()),
        ("a.alias", "text", frozenset()),
        ("a.label", "label", None),
        ("a.button", "label", None),
        ("a.button", "text", frozenset()),
        ("a.q", "prompt_subject", None),
        ("a.lbl", "label", None),
        ("a.help", "help", None),
        ("a.plain", "prompt", None),
        ("a.", "family", None),
    }


def test_the_scan_finds_the_keys_the_code_uses() -> None:
    """Guard the scanner itself: it sees each way the code names a key."""
    found = {(use.key, use.role) for use in USES}
    assert ("err.internal", "text") in found  # turn.t in bot/engine.py
    assert ("notify.perlu_info", "text") in found  # catalog.text(language, ...) in casework
    assert ("form.is_it", "text") in found  # turn.t("...", name=...) with parameters
    assert ("reg.done.self", "text") in found  # key = "..." if ... else "..."; turn.t(key, ...)
    assert ("mydata.withdraw_confirm", "text") in found
    assert ("menu.registration", "label") in found  # Option(..., "menu.registration", ...)
    assert ("reg.phone_use_known", "label") in found  # Choice(..., turn.t("..."))
    assert ("reg.q.nik", "prompt_subject") in found  # IdNumberField(..., prompt_key=..., subject=...)
    assert ("aid.q.photo", "prompt") in found
    assert ("reg.label.nik", "label") in found
    assert ("help.nik", "help") in found
    assert ("reg.title", "title") in found
    assert len({use.key for use in USES}) > 200


# ---------------------------------------------------------------- the two catalogs agree


def test_languages_have_the_same_keys() -> None:
    base = set(CATALOG.messages[DEFAULT_LANGUAGE])
    for lang in LANGUAGES:
        keys = set(CATALOG.messages[lang])
        assert keys - base == set(), f"only in {lang}.toml"
        assert base - keys == set(), f"missing from {lang}.toml"


def test_each_key_has_the_same_placeholders_in_every_language() -> None:
    differ = {
        key: {lang: sorted(placeholders(text(key, lang))) for lang in LANGUAGES}
        for key in CATALOG.messages[DEFAULT_LANGUAGE]
        if len({frozenset(placeholders(text(key, lang))) for lang in LANGUAGES}) > 1
    }
    assert differ == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_string_formats_with_dummy_values(lang: str) -> None:
    broken = {}
    for key, template in CATALOG.messages[lang].items():
        names = placeholders(template)
        try:
            filled = template.format(**dict.fromkeys(names, "X"))
        except (KeyError, IndexError, ValueError, AttributeError) as error:
            broken[key] = repr(error)
            continue
        if not filled.strip():
            broken[key] = "empty"
        if not names and ("{{" in template or "}}" in template):
            # Catalog.text returns a template without parameters untouched: the braces would show.
            broken[key] = "doubled braces in a sentence without placeholders"
    assert broken == {}


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_jargon_in_user_facing_text(lang: str) -> None:
    found = {
        key: match.group(0)
        for key, value in CATALOG.messages[lang].items()
        if (match := BANNED.search(value)) is not None
    }
    assert found == {}


def test_banned_word_check_would_catch_jargon() -> None:
    for sentence in ("Input salah", "Tekan submit", "Terjadi error", "NIK invalid", "Data tidak valid"):
        assert BANNED.search(sentence), sentence
    assert BANNED.search("Terima kasih, data sudah kami terima.") is None


# ---------------------------------------------------------------- every key the code names exists


def test_every_literal_key_exists_in_both_languages() -> None:
    missing = sorted(
        f"{use.key} ({use.where})"
        for use in USES
        if use.role not in ("prompt", "prompt_subject", "family") and not exists(use.key)
    )
    assert missing == []


def test_prompt_keys_exist_as_sentence_or_self_other_pair() -> None:
    missing = []
    for use in USES:
        pair = exists(f"{use.key}.self") and exists(f"{use.key}.other")
        if use.role == "prompt_subject" and not pair:
            missing.append(f"{use.key}.self/.other ({use.where})")
        elif use.role == "prompt" and not (exists(use.key) or pair):
            missing.append(f"{use.key} ({use.where})")
    assert missing == []


def test_subject_prompts_take_only_the_name() -> None:
    wrong = {}
    for use in USES:
        if use.role != "prompt_subject":
            continue
        for lang in LANGUAGES:
            mine, theirs = text(f"{use.key}.self", lang), text(f"{use.key}.other", lang)
            if placeholders(mine) or not placeholders(theirs) <= {"name"}:
                wrong[f"{lang}:{use.key}"] = (sorted(placeholders(mine)), sorted(placeholders(theirs)))
    assert wrong == {}


def test_literal_calls_pass_every_placeholder() -> None:
    """t("key", a=...) must fill all of the sentence's {placeholders}, or the user sees braces."""
    unfilled = {
        f"{use.key} ({use.where})": sorted(placeholders(text(use.key)) - use.params)
        for use in USES
        if use.role == "text" and use.params is not None and exists(use.key)
        if placeholders(text(use.key)) - use.params
    }
    assert unfilled == {}


def test_labels_titles_and_help_have_no_placeholders() -> None:
    """These are looked up without parameters (summary lines, buttons, help)."""
    with_braces = {
        f"{use.key} ({use.where})"
        for use in USES
        if use.role in ("label", "help", "title") and exists(use.key) and placeholders(text(use.key))
    }
    assert with_braces == set()


# ---------------------------------------------------------------- dynamic families


def test_every_case_kind_and_status_has_words() -> None:
    for kind in CaseKind:
        assert exists(f"kind.{kind}"), kind
    for status in CaseStatus:
        assert exists(f"status.{status}"), status
        assert not placeholders(text(f"status.{status}"))


def test_every_status_a_case_can_move_to_has_a_citizen_message() -> None:
    targets = set().union(*ALLOWED_TRANSITIONS.values())
    assert targets  # the workflow has moves
    for status in targets:
        assert exists(f"notify.{status}"), status
    assert exists("notify.note_fallback")
    assert placeholders(text("notify.perlu_info")) == {"reference", "question"}
    assert placeholders(text("notify.ditolak")) == {"reference", "reason"}


def invalid_reasons() -> dict[str, set[str]]:
    """Every reason `handlers/validators.py` can raise, with the keyword parameters raised with it.

    A reason passed through a helper's parameter (`_compact_id(text, "nik_digits", ...)`) is found at
    the helper's call sites.
    """
    tree = ast.parse(VALIDATORS.read_text(encoding="utf-8"))
    reasons: dict[str, set[str]] = {}
    through: list[tuple[str, int, str, set[str]]] = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef):
            continue
        parameters = [a.arg for a in function.args.args]
        for call in ast.walk(function):
            if not (isinstance(call, ast.Call) and _name(call.func) == "Invalid" and call.args):
                continue
            keywords = {k.arg for k in call.keywords if k.arg}
            reason = call.args[0]
            if isinstance(reason, ast.Constant) and isinstance(reason.value, str):
                reasons.setdefault(reason.value, set()).update(keywords)
            elif isinstance(reason, ast.Name) and reason.id in parameters:
                through.append((function.name, parameters.index(reason.id), reason.id, keywords))
            else:
                pytest.fail(f"validators.py:{call.lineno}: cannot tell which reason Invalid carries")
    for function_name, index, parameter, keywords in through:
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and _name(call.func) == function_name):
                continue
            values = [call.args[index]] if len(call.args) > index else []
            values += [k.value for k in call.keywords if k.arg == parameter]
            for value in values:
                assert isinstance(value, ast.Constant) and isinstance(value.value, str), call.lineno
                reasons.setdefault(value.value, set()).update(keywords)
    return reasons


def test_every_validation_reason_has_a_kind_explanation() -> None:
    reasons = invalid_reasons()
    assert {"nik_digits", "nik_length", "kk_length", "date_future", "too_long"} <= set(reasons)
    missing = sorted(f"err.{reason}" for reason in reasons if not exists(f"err.{reason}"))
    assert missing == []
    unfilled = {
        reason: sorted(placeholders(text(f"err.{reason}", lang)) - params)
        for reason, params in reasons.items()
        for lang in LANGUAGES
        if placeholders(text(f"err.{reason}", lang)) - params
    }
    assert unfilled == {}


# ---------------------------------------------------------------- what the router really uses


def form_fields() -> Iterator[tuple[Form, _Base]]:
    for form in router.FORMS.values():
        for field in form.fields:
            assert isinstance(field, _Base), f"{form.name}.{field.name}"
            yield form, field


def option_sets() -> Iterator[tuple[str, tuple[Option, ...]]]:
    """Every set of options offered as buttons or a list, with where it is used."""
    yield "menu", tuple(menu.OPTIONS)
    yield "consent", tuple(consent.OPTIONS)
    yield "language", tuple(language.OPTIONS)
    yield "resume", tuple(router.RESUME_OPTIONS)
    yield "mydata", tuple(my_data.ACTIONS)
    yield "summary", tuple(_SUMMARY_OPTIONS)
    yield "yes/no", tuple(yes_no_options())
    for form, field in form_fields():
        if isinstance(field, ChoiceField):
            yield f"{form.name}.{field.name}", field.options
        elif isinstance(field, MultiChoiceField):
            yield f"{form.name}.{field.name}", field.offered


def test_forms_and_options_name_existing_keys() -> None:
    missing = []
    for form in router.FORMS.values():
        if not exists(form.title_key):
            missing.append(f"{form.name}: {form.title_key}")
    for form, field in form_fields():
        where = f"{form.name}.{field.name}"
        # A question without a label (asked, but not a line of the summary) names no label key.
        keys = ([field.label_key] if field.label_key else []) + ([field.help_key] if field.help_key else [])
        if field.subject is not None:
            keys += [f"{field.prompt_key}.self", f"{field.prompt_key}.other"]
        elif not (exists(f"{field.prompt_key}.self") and exists(f"{field.prompt_key}.other")):
            keys.append(field.prompt_key)
        if isinstance(field, IdNumberField):
            keys.append(f"err.{field.kind}_digits")
        missing += [f"{where}: {key}" for key in keys if not exists(key)]
    for where, options in option_sets():
        missing += [f"{where}: {o.label_key}" for o in options if not exists(o.label_key)]
    assert missing == []


SHORT_LABELS = {
    "common.yes",
    "common.no",
    "common.skip",
    "consent.agree",
    "consent.refuse",
    "consent.read_full",
    "form.send",
    "form.edit",
    "resume.continue",
    "resume.restart",
    "resume.menu",
    "language.id",
    "language.en",
    "reg.for_self",
    "aid.for_self",
    "aid.for_other",
    "sex.male",
    "sex.female",
    "mydata.edit",
    "mydata.delete",
    "mydata.withdraw",
    "mydata.back_to_menu",
    "reg.phone_use_known",
    "reg.phone_other",
    "reg.phone_none",
}


def short_label_keys() -> set[str]:
    """Labels shown as WhatsApp reply buttons: the named sets, and any question of up to 3 options."""
    keys = set(SHORT_LABELS)
    for where, options in option_sets():
        if len(options) <= 3 or where in ("consent", "mydata"):
            keys.update(o.label_key for o in options)
    return keys


def all_label_keys() -> set[str]:
    keys = {use.key for use in USES if use.role == "label"}
    for _, options in option_sets():
        keys.update(o.label_key for o in options)
    keys.update(field.label_key for _, field in form_fields() if field.label_key)  # offered when changing
    return keys


@pytest.mark.parametrize("lang", LANGUAGES)
def test_choice_labels_fit_whatsapp(lang: str) -> None:
    short = short_label_keys()
    assert short >= SHORT_LABELS
    too_long = {
        key: text(key, lang)
        for key in sorted(all_label_keys())
        if len(text(key, lang)) > (BUTTON_LIMIT if key in short else LIST_ROW_LIMIT)
    }
    assert too_long == {}


def test_every_catalog_key_is_used() -> None:
    """A sentence nobody can reach is a sentence nobody keeps up to date."""
    used = {use.key for use in USES}
    used |= {f"{use.key}.{who}" for use in USES if use.role.startswith("prompt") for who in ("self", "other")}
    used |= {f"kind.{kind}" for kind in CaseKind} | {f"status.{status}" for status in CaseStatus}
    used |= {f"notify.{status}" for status in set().union(*ALLOWED_TRANSITIONS.values())}
    used |= {f"err.{reason}" for reason in invalid_reasons()}
    used |= {f"staff.error.{code}" for code in CODES}  # every error code of the staff service has words
    families = tuple(use.key for use in USES if use.role == "family")
    assert "kind." in families and "status." in families
    unused = {key for key in CATALOG.messages[DEFAULT_LANGUAGE] if key not in used}
    # Within a family such as `err.` the members are checked above; here the family counts as used.
    assert sorted(key for key in unused if not key.startswith(families)) == []
