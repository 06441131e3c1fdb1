"""Print the import graph between the repository's top-level packages.

Every ``.py`` file of every top-level package is parsed with :mod:`ast`; every
``import``/``from ... import`` counts, lazy ones inside functions included (they
are shown apart: ``total (lazy)``). Imports guarded by ``if TYPE_CHECKING:`` are
counted as lazy too: they are edges a reader follows all the same.

    python tools/import_graph.py            # edges between top-level packages
    python tools/import_graph.py --modules  # the same, one line per importing module
    python tools/import_graph.py --split    # piivault/ as three nodes: root, container, kernel

import-linter (``lint-imports``, contracts in pyproject.toml) enforces the rules;
this script only measures, for the design document and reviews.
"""

from __future__ import annotations

import argparse
import ast
import collections
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SKIP = {"tests", "bench", "tools", "docs", "deploy", "build"}
# With --split, piivault/ is shown as the layers it holds (pyproject.toml's layers contract).
PIIVAULT_ROLES = {
    **dict.fromkeys(("cli", "wsgi", "devmode", "devbao", "bootstrap"), "piivault:root"),
    **dict.fromkeys(("container", "migrate", "tables_registry", "gauges"), "piivault:container"),
}


def node(module: str, split: bool) -> str:
    """The graph node of ``module``: its top-level package (piivault's role with ``split``)."""
    parts = module.split(".")
    if split and parts[0] == "piivault":
        if len(parts) > 1 and parts[1] == "migrations":
            return "piivault:container"
        return PIIVAULT_ROLES.get(parts[1] if len(parts) > 1 else "", "piivault:kernel")
    return parts[0]


def packages(root: pathlib.Path) -> list[str]:
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and (p / "__init__.py").exists() and p.name not in SKIP and not p.name.startswith(".")
    )


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Imports(ast.NodeVisitor):
    """(imported module, lazy?) for every import in a module."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module, self.is_package = module, is_package
        self.depth = 0
        self.found: list[tuple[str, bool]] = []

    def _nested(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _nested

    def visit_If(self, node: ast.If) -> None:
        test = ast.unparse(node.test)
        if "TYPE_CHECKING" in test:
            self.depth += 1
            for child in node.body:
                self.visit(child)
            self.depth -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self.found.append((alias.name, self.depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        target = _resolve(node, self.module, self.is_package)
        self.found.append((target, self.depth > 0))


def edges(root: pathlib.Path, split: bool = False) -> dict[tuple[str, str], list[tuple[str, bool]]]:
    """(importer node, imported node) -> [(importing module, lazy), ...]."""
    pkgs = set(packages(root))
    out: dict[tuple[str, str], list[tuple[str, bool]]] = collections.defaultdict(list)
    for pkg in sorted(pkgs):
        for path in sorted((root / pkg).rglob("*.py")):
            module = module_name(path, root)
            visitor = _Imports(module, path.name == "__init__.py")
            visitor.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
            src = node(module, split)
            for target, lazy in visitor.found:
                if target.split(".")[0] not in pkgs:
                    continue
                dst = node(target, split)
                if dst != src:
                    out[(src, dst)].append((module, lazy))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--modules", action="store_true", help="list the importing modules of each edge")
    parser.add_argument("--split", action="store_true", help="piivault/ as root, container and kernel")
    args = parser.parse_args(argv)
    graph = edges(ROOT, args.split)
    total = lazy_total = 0
    for (src, dst), hits in sorted(graph.items()):
        lazy = sum(1 for _, is_lazy in hits if is_lazy)
        total += len(hits)
        lazy_total += lazy
        print(f"{src:>18} -> {dst:<18} {len(hits):4d} ({lazy} lazy)")
        if args.modules:
            for module, count in sorted(collections.Counter(m for m, _ in hits).items()):
                print(f"{'':>20}{module} x{count}")
    cycles = sorted({tuple(sorted(pair)) for pair in graph if (pair[1], pair[0]) in graph})
    print(f"{len(graph)} edges, {total} imports ({lazy_total} lazy)")
    print("two-way edges: " + (", ".join(f"{a}<->{b}" for a, b in cycles) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
