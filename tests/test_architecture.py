"""The import rules of the package's floors, read from the source (ast), so they stay true as code moves.

* The sub-packages and top-level modules of ``edgepose`` import each other without a cycle.
* ``codecs/`` and ``runtime/`` (what a device runs) never reach ``data/``, ``models/``, ``engine/`` or torch,
  following every import transitively, including imports inside functions (only ``TYPE_CHECKING`` blocks are
  exempt, as they never run) -- module by module, and floor by floor: a device floor that imports any module of
  a floor (``evaluation/``) is taken to reach everything that floor reaches (``evaluation -> data``), because
  the floor is what a package installs and what a reader sees. OKS-NMS lives at the bottom (``edgepose.oks``)
  for that reason.
* ``engine/`` does not import ``export/``: the metadata a model carries (``edgepose.meta``) is built with the
  model, not by the exporter.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "edgepose"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            found |= set().union(*(_imports(n) for n in node.orelse)) if node.orelse else set()
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        found |= _imports(node)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        for target in _imports(ast.parse(path.read_text(encoding="utf-8"))):
            if target.startswith("edgepose"):
                # "from edgepose.x import y": y may be a module or a name; keep whichever exists
                while target not in modules and "." in target:
                    target = target.rsplit(".", 1)[0]
                if target != name:
                    graph[name].add(target)
            else:
                graph[name].add(target.split(".")[0])
    return graph


def _floor(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "edgepose"


def test_floors_import_each_other_without_a_cycle() -> None:
    floors: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph().items():
        for target in targets:
            if target.startswith("edgepose") and _floor(target) not in (_floor(source), "edgepose"):
                floors[_floor(source)].add(_floor(target))
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(floors.get(node, ())):
            assert state.get(nxt) != 1, f"import cycle between floors: {' -> '.join([*path, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for floor in sorted(floors):
        if floor not in state:
            visit(floor, [floor])
    assert "codecs" in floors and "runtime" in floors  # the graph was really read


def test_codecs_and_runtime_reach_neither_data_models_engine_nor_torch() -> None:
    graph = _graph()
    forbidden = ("edgepose.data", "edgepose.models", "edgepose.engine", "torch")
    starts = [m for m in graph if m.startswith(("edgepose.codecs", "edgepose.runtime"))]
    assert len(starts) >= 5
    for start in starts:
        seen, stack = {start}, [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph.get(node, ()):
                bad = nxt == "torch" or any(nxt == f or nxt.startswith(f + ".") for f in forbidden[:3])
                assert not bad, f"{' -> '.join([*path, nxt])}: the device floor must not import this"
                if nxt.startswith("edgepose") and nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, [*path, nxt]))


def _floor_graph() -> dict[str, set[str]]:
    """floor -> floors (and third-party top-level packages) its modules import."""
    floors: dict[str, set[str]] = defaultdict(set)
    for source, targets in _graph().items():
        for target in targets:
            if not target.startswith("edgepose"):
                floors[_floor(source)].add(target)
            elif _floor(target) != _floor(source):
                floors[_floor(source)].add(_floor(target) if _floor(target) != "edgepose" else target)
    return floors


def _reach(graph: dict[str, set[str]], start: str) -> dict[str, list[str]]:
    """Every node reachable from ``start``, with one path to it."""
    paths = {start: [start]}
    stack = [start]
    while stack:
        node = stack.pop()
        for nxt in sorted(graph.get(node, ())):
            if nxt not in paths:
                paths[nxt] = [*paths[node], nxt]
                stack.append(nxt)
    return paths


def test_device_floors_reach_neither_data_models_engine_nor_torch_floor_by_floor() -> None:
    floors = _floor_graph()
    assert "runtime" in floors and "evaluation" in floors
    for start in ("codecs", "runtime"):
        reached = _reach(floors, start)
        for bad in ("data", "models", "engine", "torch", "torchvision"):
            assert bad not in reached, f"{' -> '.join(reached[bad])}: the device floor must not reach this"


def test_the_floor_graph_sees_a_transitive_path() -> None:
    """The check above is not vacuous: a runtime module importing evaluation/ would reach data/ through it."""
    floors = _floor_graph()
    floors["runtime"] = {*floors["runtime"], "evaluation"}
    assert "data" in _reach(floors, "runtime")


def test_engine_does_not_import_export() -> None:
    floors = _floor_graph()
    assert "export" not in floors["engine"], "engine/ imports export/ (metadata is built in edgepose.meta)"
