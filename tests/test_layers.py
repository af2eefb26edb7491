"""The package's layers: every import points down, so no two packages depend on each other.

The graph is read from the source (every ``import`` and ``from ... import``: at module level,
inside functions and under ``TYPE_CHECKING``), so a lazy import cannot hide an arrow.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import blindface

SOURCE = Path(blindface.__file__).parent

#: Bottom to top; a package may import its own modules and the packages of lower layers only.
LAYERS: tuple[frozenset[str], ...] = (
    # foundations: the atomic writer, random streams, threat views on arrays, the bounded
    # reader, embedder identity, onnxruntime sessions, progress bars
    frozenset(
        {
            "_io",
            "_seeds",
            "_version",
            "threats",
            "_safe_read",
            "_provenance",
            "_onnxruntime",
            "_progress",
        }
    ),
    frozenset({"_json", "_outputs"}),  # on the foundations: bounded JSON, the output guard
    frozenset({"datasets", "faces", "evaluation", "testing"}),  # tables, faces, arrays
    frozenset({"store", "blinding"}),  # the Parquet format; blinding methods on arrays
    frozenset({"pipelines"}),  # stores x blinders: fit on stores, transform a store
    frozenset({"audit", "study"}),  # the measurements
    frozenset({"cli", "blindface"}),  # the command line; the package's lazy facade
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def _module_name(path: Path) -> str:
    parts = path.relative_to(SOURCE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> Iterator[tuple[str, int]]:
    """Every ``blindface`` module named by an import in ``path``, with its line."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            yield base, node.lineno
            yield from ((f"{base}.{alias.name}", node.lineno) for alias in node.names)


def _package(module: str) -> str | None:
    """The top-level part of ``blindface`` a module belongs to (``blindface`` itself for the
    facade ``blindface/__init__.py``), or None outside the package."""
    parts = module.split(".")
    if parts[0] != "blindface":
        return None
    return parts[1] if len(parts) > 1 else "blindface"


def _edges() -> dict[tuple[str, str], list[str]]:
    """(importing package, imported package) -> where (``file:line``)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        source = _package(_module_name(path))
        for name, line in _imports(path):
            target = _package(name)
            if target is None or target == source:
                continue
            if target not in LAYER_OF:  # ``from blindface import X``: X names a package
                continue
            edges.setdefault((str(source), target), []).append(f"{path.relative_to(SOURCE)}:{line}")
    return edges


def test_every_package_has_a_layer():
    packages = {_package(_module_name(p)) for p in SOURCE.rglob("*.py")}
    assert packages <= set(LAYER_OF), f"add {sorted(packages - set(LAYER_OF))} to LAYERS"


def test_imports_point_down():
    wrong = {
        f"{source} -> {target}": where
        for (source, target), where in _edges().items()
        if LAYER_OF[target] >= LAYER_OF[source]
    }
    assert not wrong, f"imports that do not point to a lower layer: {wrong}"


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("store", {"blinding", "pipelines", "study", "cli", "audit"}),
        ("blinding", {"store", "pipelines", "study", "cli", "audit"}),
        ("datasets", {"store", "blinding", "pipelines", "study", "cli", "audit", "evaluation"}),
        ("faces", {"store", "blinding", "pipelines", "study", "cli", "audit", "datasets"}),
    ],
)
def test_lower_layers_never_import_upper_ones(package, forbidden):
    found = {t: w for (s, t), w in _edges().items() if s == package and t in forbidden}
    assert not found, f"{package} imports {found}"


def test_no_import_cycle_between_packages():
    graph: dict[str, set[str]] = {}
    for source, target in _edges():
        graph.setdefault(source, set()).add(target)

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n}))
            for n in graph.get(start, ())
        )

    assert not [p for p in graph if reaches(p, p)]


def test_no_import_cycle_between_modules():
    """Between modules (package ``__init__`` files, which only re-export, left out)."""
    paths = {_module_name(p): p for p in SOURCE.rglob("*.py") if p.name != "__init__.py"}
    graph = {
        module: {name for name, _ in _imports(path) if name in paths and name != module}
        for module, path in paths.items()
    }

    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            n == goal or (n not in seen and reaches(n, goal, seen | {n}))
            for n in graph.get(start, ())
        )

    assert not [m for m in graph if reaches(m, m)]
