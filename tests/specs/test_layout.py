"""The package layout holds: no import cycle among bench's modules, counting imports inside functions."""

from __future__ import annotations

import grimp


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return groups


def test_no_import_cycle_among_bench_modules() -> None:
    graph = grimp.build_graph("bench", "strategies")
    bench = {m for m in graph.modules if m == "bench" or m.startswith("bench.")}
    assert _cycles(graph, bench) == []


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    """The check above could fail: an import planted from a low module back up forms a cycle."""
    graph = grimp.build_graph("bench", "strategies")
    graph.add_import(importer="bench.scenario.model", imported="bench.run.runner")
    bench = {m for m in graph.modules if m.startswith("bench.")}
    cycles = _cycles(graph, bench)
    assert any({"bench.scenario.model", "bench.run.runner"} <= set(group) for group in cycles)
