"""No import cycle among the modules of `bot/`, `handlers/` and `storage/`: a module's imports, read from
its source with `ast` (module-level only; an import inside a function runs later, and one under
`if TYPE_CHECKING:` never runs), never lead back to it. Within the Telegram channel there is no cycle
even for the type checker: its parts (the staff desk's above all) only depend one way."""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("bot", "handlers", "storage")


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(body: list[ast.stmt], *, typing: bool) -> Iterator[ast.Import | ast.ImportFrom]:
    """The import statements a module runs when it is imported (with `typing`: those under
    `if TYPE_CHECKING:` too). Functions and classes' methods are not entered."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if typing or not _is_type_checking(node):
                yield from _imports(node.body, typing=typing)
            yield from _imports(node.orelse, typing=typing)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _imports(block, typing=typing)
        elif isinstance(node, ast.With):
            yield from _imports(node.body, typing=typing)


def modules(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the packages."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def import_graph(root: Path, packages: tuple[str, ...], *, typing: bool = False) -> dict[str, set[str]]:
    """Module -> the modules of the packages it imports (`from a import b` names module `a.b` when there
    is one, else `a`)."""
    known = modules(root, packages)
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in _imports(ast.parse(path.read_text(encoding="utf-8")).body, typing=typing):
            if isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name in known}
                continue
            base = node.module or ""
            if node.level:  # relative: from the module's package, one level up per extra dot
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    targets.add(f"{base}.{alias.name}")
                elif base in known:
                    targets.add(base)
        targets.discard(name)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) through each group of modules that import each other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def visit(start: str) -> None:  # Tarjan's strongly connected components, without recursion
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            for target in edges:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for name in sorted(graph):
        if name not in index:
            visit(name)
    return [_path_through(graph, group) for group in groups]


def _path_through(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """A shortest cycle from the group's first module back to it, inside the group."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & group):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a strongly connected group always has one


def _shown(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(cycle) for cycle in found)


def test_no_module_of_bot_handlers_or_storage_imports_itself_back() -> None:
    found = cycles(import_graph(ROOT, PACKAGES))
    assert not found, "import cycles:\n" + _shown(found)


def test_the_telegram_channel_has_no_cycle_even_for_the_type_checker() -> None:
    graph = import_graph(ROOT, PACKAGES, typing=True)
    telegram = {
        name: {target for target in targets if target.startswith("bot.channels.telegram")}
        for name, targets in graph.items()
        if name.startswith("bot.channels.telegram")
    }
    found = cycles(telegram)
    assert not found, "import cycles:\n" + _shown(found)


def test_the_check_finds_a_cycle_and_ignores_imports_that_do_not_run(tmp_path: Path) -> None:
    files = {
        "app/__init__.py": "",
        "app/a.py": "from app import b\n",
        "app/b.py": "from . import c\n",
        "app/c.py": "import app.a\n",  # a -> b -> c -> a
        "app/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app import e\n",
        "app/e.py": "from app.d import x\n\ndef later():\n    from app import f\n",
        "app/f.py": "from app import e\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert cycles(import_graph(tmp_path, ("app",))) == [["app.a", "app.b", "app.c", "app.a"]]
    with_typing = cycles(import_graph(tmp_path, ("app",), typing=True))
    assert sorted(with_typing) == [["app.a", "app.b", "app.c", "app.a"], ["app.d", "app.e", "app.d"]]
