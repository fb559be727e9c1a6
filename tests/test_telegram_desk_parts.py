"""The parts of the Telegram channel (the staff desk's above all) talk through small public interfaces:
no module reads or calls another object's private member (`other._name`) or imports a private name from
another module. A part may change its insides without breaking the others."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TELEGRAM = ROOT / "bot" / "channels" / "telegram"
OURS = ("bot", "handlers", "storage")


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def reach_ins(path: Path, root: Path = ROOT) -> list[str]:
    """`other._name` (anything but `self._name` and `cls._name`) and `from module import _name`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if not (isinstance(owner, ast.Name) and owner.id in ("self", "cls")):
                found.append(f"{path.relative_to(root)}:{node.lineno} .{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            ("bot", "handlers", "storage")
        ):
            found += [
                f"{path.relative_to(root)}:{node.lineno} import {alias.name}"
                for alias in node.names
                if _private(alias.name)
            ]
    return sorted(found)


def test_no_part_of_the_telegram_channel_reaches_into_another() -> None:
    found = [use for path in sorted(TELEGRAM.rglob("*.py")) for use in reach_ins(path)]
    assert found == []


def test_the_check_sees_a_reach_in(tmp_path: Path) -> None:
    source = tmp_path / "part.py"
    source.write_text(
        "from bot.x import _hidden\n"
        "class A:\n"
        "    def f(self, desk):\n"
        "        self._mine()\n"
        "        desk._say('hi')\n"
        "        return self.__class__\n",
        encoding="utf-8",
    )
    assert reach_ins(source, tmp_path) == ["part.py:1 import _hidden", "part.py:5 ._say"]
