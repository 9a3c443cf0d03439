"""The package's shape: one direction of imports, a CLI nothing else imports, short files.

Every `import` in lstm_apps is read from the source (module level, inside functions and
under TYPE_CHECKING alike: a lazy import is still a dependency), and the graph of modules
must have no cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "lstm_apps"
MAX_LINES = 400


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The lstm_apps modules `name` imports (a `from pkg import sub` counts as pkg.sub)."""
    is_pkg = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "lstm_apps"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                mod = ".".join([*base, *([node.module] if node.module else [])])
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "lstm_apps":
                continue
            subs = {f"{mod}.{a.name}" for a in node.names} & known
            out |= subs or {mod}
    return {m for m in out if m in known and m != name}


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_walker_sees_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []
    # and it reads real imports: the runtime package imports its error module
    assert "lstm_apps.runtime.errors" in _graph()["lstm_apps.runtime"]


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_nothing_outside_the_cli_imports_the_cli() -> None:
    graph = _graph()
    offenders = {
        name: sorted(m for m in deps if m == "lstm_apps.cli" or m.startswith("lstm_apps.cli."))
        for name, deps in graph.items()
        if not (name == "lstm_apps.cli" or name.startswith("lstm_apps.cli."))
        and name != "lstm_apps.__main__"  # `python -m lstm_apps` is the CLI's other door
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_runtime_imports_nothing_outside_itself() -> None:
    graph = _graph()
    for name, deps in graph.items():
        if name.startswith("lstm_apps.runtime"):
            assert all(d.startswith("lstm_apps.runtime") for d in deps), (name, deps)


def test_every_file_is_short() -> None:
    long = {
        str(p.relative_to(PACKAGE.parent)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text().splitlines())) >= MAX_LINES
    }
    assert long == {}
