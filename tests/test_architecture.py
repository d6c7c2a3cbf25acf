"""The house plan (docs/architecture.md): imports point down, and none goes round in a circle."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SOURCE = Path(__file__).parents[1] / "src"

#: Each layer, and the kbcore modules (besides its own package's) that it may import.
LAYERS: dict[str, set[str]] = {
    "kbcore._domain": set(),
    "kbcore.errors": set(),
    "kbcore._validators": {"kbcore.errors"},
    "kbcore.logging": {"kbcore.errors"},
    "kbcore._progress": {"kbcore.errors"},
    "kbcore._auto_sync": {"kbcore.errors"},
    "kbcore._ports": {"kbcore._domain"},
    "kbcore.retrieval": set(),
    "kbcore.vapi": {"kbcore._domain", "kbcore._validators", "kbcore.errors", "kbcore.logging"},
    "kbcore.documents": {
        "kbcore._domain",
        "kbcore._ports",
        "kbcore._progress",
        "kbcore._validators",
        "kbcore.errors",
        "kbcore.logging",
    },
    "kbcore.sync": {
        "kbcore._auto_sync",
        "kbcore._domain",
        "kbcore._ports",
        "kbcore._progress",
        "kbcore._validators",
        "kbcore.errors",
        "kbcore.logging",
        "kbcore.vapi",
    },
    "kbcore.live": {
        "kbcore._domain",
        "kbcore._ports",
        "kbcore._validators",
        "kbcore.errors",
        "kbcore.logging",
        "kbcore.retrieval",
        "kbcore.vapi",
    },
    "kbcore.postgres": {
        "kbcore._auto_sync",
        "kbcore._domain",
        "kbcore._ports",
        "kbcore.errors",
        "kbcore.logging",
        "kbcore.retrieval",
    },
    "kbcore.memory": {
        "kbcore._auto_sync",
        "kbcore._domain",
        "kbcore._ports",
        "kbcore.errors",
        "kbcore.logging",
        "kbcore.retrieval",
    },
    "kbcore.report": {"kbcore._domain", "kbcore._ports", "kbcore._validators", "kbcore.errors"},
}


def modules() -> dict[str, Path]:
    found = {}
    for path in (SOURCE / "kbcore").rglob("*.py"):
        parts = list(path.relative_to(SOURCE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The kbcore modules a module imports, at the top, lazily or for type checking alike."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            submodules = [f"{node.module}.{alias.name}" for alias in node.names]
            names = [name for name in submodules if name in known] or [node.module]
        else:
            continue
        yield from (name for name in names if name.startswith("kbcore"))


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imports(path, known)) - {name} for name, path in known.items()}


def layer_of(module: str) -> str | None:
    return next(
        (layer for layer in LAYERS if module == layer or module.startswith(f"{layer}.")), None
    )


@pytest.mark.parametrize("layer", list(LAYERS))
def test_imports_point_down(layer: str) -> None:
    """A layer imports only the layers below it (and its own package's modules)."""
    allowed = LAYERS[layer]
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in graph().items()
        if layer_of(module) == layer
        for target in targets
        if layer_of(target) != layer and not any(target.startswith(ok) for ok in allowed)
    )
    assert wrong == []


def test_no_import_goes_round_in_a_circle() -> None:
    """No module imports, however indirectly, a module that imports it."""
    edges = graph()
    circles: list[list[str]] = []

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(edges.get(module, ())):
            if target in path:
                circles.append([*path[path.index(target) :], target])
            elif target not in done:
                visit(target, [*path, target])
        done.add(module)

    done: set[str] = set()
    for module in sorted(edges):
        if module not in done:
            visit(module, [module])
    assert circles == []
