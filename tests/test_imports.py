"""The package's import graph: no cycle among release.* modules, and no `import release...`
inside a function (the usual way a cycle is hidden). Read from the source with `ast`."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

import release

ROOT = Path(release.__file__).parent

# Function-level imports kept on purpose: (importer, what it may import lazily: a module, or a
# package prefix ending in "."), each with its reason. None of them may close a cycle either.
LAZY: dict[tuple[str, str], str] = {
    ("release.channels.registries", "release.publish."): (
        "a registry adapter loads its cloud SDK (google-cloud-compute alone takes ~5 s to import);"
        " only the registries a config names are loaded"
    ),
    **{
        ("release.publish.targets", f"release.publish.{adapter}"): (
            "boto3 and google-cloud-storage add ~0.7 s to every command, `release verify`"
            " included; only the mirrors a config names load them"
        )
        for adapter in ("s3", "s3index", "gcs", "gcsindex")
    },
}


def allowed(importer: str, imported: str) -> bool:
    return any(
        importer == who and (imported == what or (what.endswith(".") and imported.startswith(what)))
        for who, what in LAZY
    )


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@functools.cache  # the trees are only read; parsing them all once is most of the time
def modules() -> dict[str, ast.Module]:
    return {module_name(p): ast.parse(p.read_text(), str(p)) for p in sorted(ROOT.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, here: str, known: set[str]) -> Iterator[str]:
    """The release modules an import statement loads (`from a import b` loads a.b when b is
    a module, else a)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = here.split(".")[: -node.level]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    yield from (n for n in names if n in known and n != here)


def _in_function(tree: ast.Module) -> set[int]:
    """The ids of the import nodes that sit inside a function body."""
    inside: set[int] = set()
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            inside.update(
                id(n) for n in ast.walk(func) if isinstance(n, ast.Import | ast.ImportFrom)
            )
    return inside


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Imports under `if TYPE_CHECKING:` do not run, so they cannot close a cycle."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skipped.update(id(n) for n in ast.walk(stmt))
    return skipped


def _parents(target: str, importer: str, known: set[str]) -> set[str]:
    """Importing a.b.c runs a/__init__ and a/b/__init__ first; an importer's own packages are
    being imported already (a package __init__ may import its own submodules)."""
    parts = target.split(".")
    ancestors = {".".join(parts[:i]) for i in range(2, len(parts))}
    return {p for p in ancestors if p in known and not importer.startswith(p + ".")}


def graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """Module-level edges between release modules, and the function-level imports."""
    trees = modules()
    known = set(trees)
    edges: dict[str, set[str]] = {name: set() for name in trees}
    lazy: list[tuple[str, str]] = []
    for name, tree in trees.items():
        inside, skipped = _in_function(tree), _type_checking_only(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or id(node) in skipped:
                continue
            for target in _targets(node, name, known):
                if id(node) in inside:
                    lazy.append((name, target))
                else:
                    edges[name].add(target)
                    edges[name].update(_parents(target, name, known))
    return edges, lazy


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), or self-loops."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in sorted(edges[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_release_modules_even_counting_the_lazy_imports() -> None:
    edges, lazy = graph()
    for importer, imported in lazy:
        edges[importer].add(imported)
    assert cycles(edges) == []


def test_no_function_level_import_of_release_modules_but_the_listed_ones() -> None:
    _, lazy = graph()
    assert [pair for pair in sorted(set(lazy)) if not allowed(*pair)] == []


def test_the_checker_sees_a_cycle_and_a_hidden_import() -> None:
    # The two checks above on a graph made to fail them, so they cannot pass by seeing nothing.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    tree = ast.parse("import os\ndef f():\n    from release import errors\n")
    hidden = [n for n in ast.walk(tree) if id(n) in _in_function(tree)]
    assert [ast.unparse(n) for n in hidden] == ["from release import errors"]
    edges, _ = graph()
    assert "release.errors" in edges["release.runner"]
