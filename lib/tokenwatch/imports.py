"""The package's own imports, read from its source with `ast`: the graph the import-circle test walks, and the
modules whose code a checksum covers (the projection key of notebook 04)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_files(package: Path = PACKAGE) -> dict[str, Path]:
    """Module name -> its source file, for every module of `package`."""
    return {_module_name(p, package): p for p in sorted(package.rglob("*.py"))}


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports, at any depth (a function's own imports count: they run too).

    `from a.b import c` imports `a.b.c` where that is a module, else `a.b`; relative imports are resolved."""
    files = module_files(package)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    here = here[: len(here) - (node.level - 1)]
                    base = ".".join([*here, base] if base else here)
                targets.update(f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names)
        graph[name] = {t for t in targets if t in files and t != name}
    return graph


def imported(start: str, package: Path = PACKAGE) -> list[Path]:
    """The source files of `start` and of every module of the package it imports, transitively, with the
    packages (`__init__.py`) each of them runs on import."""
    graph, files = import_graph(package), module_files(package)
    seen: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in seen or name not in files:
            continue
        seen.add(name)
        parents = [".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)]
        todo += [*graph[name], *parents]
    return sorted(files[n] for n in seen)
