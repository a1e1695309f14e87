"""The command line's modules import each other without a cycle, counting imports inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

import bench.cli

PACKAGE = Path(bench.cli.__file__).parent


def _module(path: Path) -> str:
    return "bench.cli" if path.name == "__init__.py" else f"bench.cli.{path.stem}"


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The bench.cli modules `path` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & modules


def graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.glob("*.py"))
    modules = {_module(p) for p in paths}
    return {_module(p): _imports(p, modules) - {_module(p)} for p in paths}


def cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> list[str] | None:
        state[module] = "open"
        for target in sorted(edges.get(module, ())):
            if state.get(target) == "open":
                return [*path[path.index(target) :], target]
            if target not in state and (found := visit(target, [*path, target])):
                return found
        state[module] = "done"
        return None

    for module in sorted(edges):
        if module not in state and (found := visit(module, [module])):
            return found
    return None


def test_the_cycle_finder_finds_one() -> None:
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_bench_cli_has_no_import_cycle() -> None:
    edges = graph()
    assert "bench.cli.application" in edges["bench.cli.main"]  # the graph sees imports at all
    assert cycle(edges) is None, " -> ".join(cycle(edges) or [])
