"""The staff command line as an operator uses it: options before or after the verb, messages in their
language (Indonesian unless asked), and a quiet end when the reader of its output goes away."""

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.__main__ import _parser
from handlers.i18n import Catalog
from tests.support import TEST_KEY

ROOT = Path(__file__).resolve().parent.parent
STAFF = Catalog.load(ROOT / "bot" / "dashboard" / "locales")


def run(
    data_dir: Path, *argv: str, env: dict[str, str] | None = None, shell: str | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")}
    environ.update({"DINSOS_SECRET_KEY": TEST_KEY, **(env or {})})
    command: list[str] | str = [sys.executable, "-m", "bot", *argv]
    if shell is not None:
        command = f"{sys.executable} -m bot {' '.join(argv)} {shell}"
    return subprocess.run(
        command,
        shell=shell is not None,
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--data-dir", "D", "staff", "--as", "rina", "list"],
        ["staff", "list", "--data-dir", "D", "--as", "rina"],
        ["staff", "--as", "rina", "list", "--data-dir", "D"],
        ["simulate", "--data-dir", "D"],
        ["--data-dir", "D", "backup", "F"],
        ["backup", "F", "--data-dir", "D"],
    ],
)
def test_global_options_go_before_or_after_the_verb(argv: list[str]) -> None:
    args = _parser().parse_args(argv)
    assert args.data_dir == Path("D")
    if "--as" in argv:
        assert args.actor == "rina"


def test_an_option_before_the_verb_is_not_reset_by_the_verb() -> None:
    args = _parser().parse_args(["--data-dir", "D", "staff", "--as", "rina", "--lang", "en", "show", "X"])
    assert (args.data_dir, args.actor, args.cli_language) == (Path("D"), "rina", "en")


def test_simulate_with_the_data_dir_after_the_verb_uses_that_store(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "bot", "simulate", "--data-dir", str(data)],
        input='{"from": "u1", "text": "halo"}\n',
        capture_output=True,
        text=True,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("DINSOS_")},
            "DINSOS_SECRET_KEY": TEST_KEY,
        },
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (data / "intake.sqlite3").exists()


def test_errors_speak_indonesian_unless_english_is_asked(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    indonesian = run(tmp_path, "staff", "show", "REG-2026-999999", "--data-dir", data)
    assert indonesian.returncode == 2
    assert indonesian.stderr.strip() == STAFF.text(
        "id", "cli.error", problem=STAFF.text("id", "cli.no_case", reference="REG-2026-999999")
    )
    flag = run(tmp_path, "staff", "show", "REG-2026-999999", "--data-dir", data, "--lang", "en")
    assert "there is no case with reference REG-2026-999999" in flag.stderr
    setting = run(tmp_path, "staff", "list", "--data-dir", data, env={"DINSOS_STAFF_LANGUAGE": "en"})
    assert setting.returncode == 0 and "REFERENCE" in setting.stdout and "(0 cases)" in setting.stdout


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    from tests.test_keys import make_store

    make_store(data, count=3000)
    result = run(  # noqa: S604 - a fixed pipe
        tmp_path,
        "staff",
        "list",
        "--limit",
        "3000",
        "--data-dir",
        str(data),
        env={"DINSOS_SECRET_KEY": ""},  # the store's own key file
        shell="| head -n 2",  # a fixed pipe, as an operator types it
    )
    assert len(result.stdout.splitlines()) == 2
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr


def test_every_cli_sentence_is_used_by_the_command_line() -> None:
    source = (ROOT / "bot" / "staff_cli.py").read_text() + (ROOT / "handlers" / "casework.py").read_text()
    for service in ("casework.py", "segments.py"):  # the staff service's refusals
        source += (ROOT / "handlers" / "staff" / service).read_text()
    named = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    cli = {key.removeprefix("cli.") for key in STAFF.messages["id"] if key.startswith("cli.")}
    assert cli - named == set()
    assert set(STAFF.messages["en"]) >= {f"cli.{key}" for key in cli}
