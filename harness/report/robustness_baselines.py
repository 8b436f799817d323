"""LIBERO-PRO's published rows as data (results/baselines/robustness/*.toml): one cell per (base suite,
perturbation), each with the source it was read from."""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from harness.api.errors import UsageError
from harness.report.baselines import shipped_baseline_dir
from harness.report.robustness import PublishedCell, PublishedRow, PublishedSource

SUBDIR = "robustness"


def robustness_baseline_dirs() -> list[Path]:
    """The shipped folder, then ./results/baselines/robustness where users add theirs."""
    dirs = []
    shipped = shipped_baseline_dir()
    if shipped is not None and (shipped / SUBDIR).is_dir():
        dirs.append(shipped / SUBDIR)
    local = Path.cwd() / "results" / "baselines" / SUBDIR
    if local.is_dir() and all(local.resolve() != d.resolve() for d in dirs):
        dirs.append(local)
    return dirs


def load_published(dirs: Sequence[Path], place: Callable[[str], tuple[str, str] | None]
                   ) -> tuple[list[PublishedRow], list[PublishedSource]]:
    """Rows by method (a method's cells may come from several blocks and sources). `place` maps a
    suite name to (base suite, kind), or None for a name it does not know."""
    cells: dict[str, dict[tuple[str, str], PublishedCell]] = {}
    protocols: dict[str, str] = {}
    notes: dict[str, list[str]] = {}
    sources: dict[str, PublishedSource] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.toml")):
            try:
                data = tomllib.loads(path.read_text())
            except tomllib.TOMLDecodeError as exc:
                raise UsageError(f"baseline file {path} is not valid TOML: {exc}") from None
            for src in data.get("source", []):
                try:
                    sources[str(src["id"])] = PublishedSource(str(src["id"]), str(src["title"]), str(src.get("url", "")),
                                                              str(src.get("where", "")))
                except KeyError as exc:
                    raise UsageError(f"{path}: a [[source]] lacks {exc.args[0]!r}") from None
            for i, row in enumerate(data.get("result", [])):
                where = f"{path} result #{i + 1}"
                try:
                    method, source, success = str(row["method"]), str(row["source"]), dict(row["success"])
                except KeyError as exc:
                    raise UsageError(f"{where}: missing field {exc.args[0]!r}") from None
                if source not in sources:
                    raise UsageError(f"{where}: source {source!r} is not a [[source]] of the file")
                for suite, value in success.items():
                    placed = place(suite)
                    if placed is None:
                        raise UsageError(f"{where}: {suite!r} is neither a base suite nor one of its perturbations")
                    if not 0.0 <= float(value) <= 1.0:
                        raise UsageError(f"{where}: {suite} = {value} is not a fraction between 0 and 1")
                    cells.setdefault(method, {})[placed] = PublishedCell(float(value), source)
                protocols.setdefault(method, str(row.get("protocol", "")))
                if row.get("note"):
                    notes.setdefault(method, []).append(str(row["note"]))
    rows = [PublishedRow(m, protocols[m], c, "; ".join(notes.get(m, []))) for m, c in cells.items()]
    return rows, list(sources.values())
