"""The import contract: which layer may import which, read from the source with `ast` (every
import, those inside functions and under TYPE_CHECKING included).

- the shared layer imports nothing else of the project;
- envs/ and policies/ import from harness/ only the shared layer;
- envs/ never imports policies/, and policies/ never imports envs/;
- envs.libero never imports envs.robotwin (nor the other way round);
- the report (harness.report) imports only the store and the shared layer;
- `wam-eval reproduce` (harness.reproduce and its commands) reaches a benchmark's package only through
  envs.registry and a policy's only through policies.registry: the tables, perturbations and
  published rows are facts the benchmarks and policies declare (harness.api records);
- the Python API (wam_eval) sits below the command line, which is built on it: it never imports harness.cli.

EXCEPTIONS lists the imports that break it today; it may only shrink: an entry that no longer
matches an import fails the test too, so a fixed arrow cannot come back unnoticed.

    python tests/test_import_contract.py [ROOT]   prints every contract and what breaks it
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("envs", "policies", "harness", "wam_eval")
SHARED = ("harness.api",)  # the shared layer: seam records, errors, verdict views
REPORT_MAY_USE = SHARED + ("harness.store", "harness.stats")
REPRODUCE = ("harness.reproduce", "harness.cli.cmd_reproduce", "harness.cli.cmd_robustness")
# What reproduction may import of envs/ and policies/: the registries, and the protocol records every
# benchmark shares (the Benchmark protocol, presets); never one benchmark's or policy's own package.
REPRODUCE_MAY_USE = ("envs.registry", "envs.base", "envs.presets", "policies.registry")

# (importing module, imported module) pairs that break a contract today. Shrink only.
EXCEPTIONS: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Contract:
    name: str
    sources: tuple[str, ...]  # modules (and their submodules) the contract constrains
    forbidden: tuple[str, ...]  # what they must not import...
    allowed: tuple[str, ...] = ()  # ...unless it is one of these (or their submodules)


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


CONTRACTS = (
    Contract("the shared layer imports nothing else of the project", SHARED, PROJECT, SHARED),
    Contract("envs/ imports only the shared layer from harness/", ("envs",), ("harness",), SHARED),
    Contract("policies/ imports only the shared layer from harness/", ("policies",), ("harness",), SHARED),
    Contract("envs/ never imports policies/", ("envs",), ("policies",)),
    Contract("policies/ never imports envs/", ("policies",), ("envs",)),
    Contract("LIBERO never imports RoboTwin", ("envs.libero",), ("envs.robotwin",)),
    Contract("RoboTwin never imports LIBERO", ("envs.robotwin",), ("envs.libero",)),
    Contract("the report reads only the store and the shared layer", ("harness.report",),
             PROJECT, REPORT_MAY_USE + ("harness.report",)),
    Contract("the Python API never imports the command line", ("wam_eval",), ("harness.cli",)),
    Contract("reproduction reaches benchmarks and policies only through their registries", REPRODUCE,
             ("envs", "policies"), REPRODUCE_MAY_USE),
)


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, root: Path) -> set[str]:
    """Every project module `path` imports, absolute; `from pkg import name` counts as pkg.name
    when that is a module of the project, else as pkg."""
    module = module_name(path, root)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                as_module = root.joinpath(*sub.split(".")).with_suffix(".py").is_file() or \
                    root.joinpath(*sub.split("."), "__init__.py").is_file()
                found.add(sub if as_module else target)
    return {m for m in found if _within(m, PROJECT)}


def all_imports(root: Path) -> dict[str, set[str]]:
    out = {}
    for top in PROJECT:
        for path in sorted((root / top).rglob("*.py")):
            out[module_name(path, root)] = imports_of(path, root)
    return out


def violations(root: Path) -> dict[str, list[tuple[str, str]]]:
    graph = all_imports(root)
    found: dict[str, list[tuple[str, str]]] = {}
    for contract in CONTRACTS:
        broken = found.setdefault(contract.name, [])
        for module, imported in graph.items():
            if not _within(module, contract.sources):
                continue
            for target in sorted(imported):
                if _within(target, contract.forbidden) and not _within(target, contract.allowed):
                    broken.append((module, target))
    return found


def test_every_contract_holds_but_for_the_listed_exceptions():
    found = violations(ROOT)
    new = sorted({pair for pairs in found.values() for pair in pairs} - EXCEPTIONS)
    assert not new, "imports that break the import contract (see this test's docstring):\n" + "\n".join(
        f"  {a} imports {b}" for a, b in new)


def test_the_exceptions_list_only_shrinks():
    found = {pair for pairs in violations(ROOT).values() for pair in pairs}
    stale = sorted(EXCEPTIONS - found)
    assert not stale, "exceptions no import needs any more; remove them from EXCEPTIONS:\n" + "\n".join(
        f"  {a} -> {b}" for a, b in stale)


def test_the_checker_sees_a_forbidden_import(tmp_path):
    # The contract must be able to fail: an env importing the store, written as a relative import
    # inside a function, is found.
    for package in ("envs", "envs/demo", "harness", "policies"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "harness" / "store.py").write_text("")
    (tmp_path / "envs" / "demo" / "bench.py").write_text("def f():\n    from ...harness import store\n")
    (tmp_path / "harness" / "reproduce").mkdir()
    (tmp_path / "harness" / "reproduce" / "__init__.py").write_text("")
    (tmp_path / "harness" / "reproduce" / "tables.py").write_text(
        "from envs.registry import BENCHMARKS\nfrom envs.demo.bench import f\n")
    (tmp_path / "envs" / "registry.py").write_text("")
    found = violations(tmp_path)
    assert found["envs/ imports only the shared layer from harness/"] == [("envs.demo.bench", "harness.store")]
    assert found["reproduction reaches benchmarks and policies only through their registries"] == [
        ("harness.reproduce.tables", "envs.demo.bench")]


def main(argv: list[str]) -> int:
    root = Path(argv[0]).resolve() if argv else ROOT
    found = violations(root)
    total = 0
    for name, pairs in found.items():
        total += len(pairs)
        print(f"{'KEPT  ' if not pairs else 'BROKEN'} {name}: {len(pairs)} offending import(s)")
        for a, b in pairs:
            print(f"         {a} -> {b}{'  (listed exception)' if (a, b) in EXCEPTIONS else ''}")
    print(f"{total} offending import(s) in all; {len(EXCEPTIONS)} listed exception(s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
