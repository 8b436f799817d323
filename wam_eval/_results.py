"""Stored runs from Python: `compare`, `report`, `load_runs`, `load_episodes` (the CLI's compare and
report call these)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.api.errors import UsageError
from harness.report import ReportFiles, default_out_dir, write_report
from harness.report.aggregate import RunData, latest_run_id, load_run, open_store
from harness.report.baselines import baseline_dirs
from harness.report.compare import Comparison, check_presets, compare_runs
from harness.report.model import Report
from harness.report.write_latex import LatexOptions
from harness.reporting import build_report, layout_for, load_baselines
from harness.store import DEFAULT_STORE, ResultStore, RunManifest

if TYPE_CHECKING:
    import pandas as pd

LATEST = "latest"


def resolve_run_ids(db: ResultStore, names: Sequence[str]) -> list[str]:
    """Each run's id from its id, a unique prefix or 'latest' (the last run updated)."""
    ids = [latest_run_id(db) if name == LATEST else db.get_run(name).run_id for name in names]
    if len(set(ids)) != len(ids):
        raise UsageError(f"a run is named twice: {' '.join(names)}")
    return ids


# One store, or several (runs kept per machine, say): a run is then looked for in each.
Stores = str | Path | Sequence[str | Path]


def store_list(store: Stores) -> list[Path]:
    if isinstance(store, (str, Path)):
        return [Path(store)]
    return list(dict.fromkeys(Path(s) for s in store)) or [DEFAULT_STORE]  # a store named twice is read once


def _find(dbs: Sequence[ResultStore], name: str) -> tuple[ResultStore, RunManifest]:
    """The one run `name` (an id, a unique prefix or 'latest') names across several stores."""
    if name == LATEST:
        found = [(db, m) for db in dbs for m in db.runs()]
        if not found:
            raise UsageError(f"no runs in {', '.join(str(db.path) for db in dbs)}")
        return max(found, key=lambda dm: dm[1].updated_at)
    exact = [(db, m) for db in dbs for m in db.runs() if m.run_id == name]
    found = exact or [(db, m) for db in dbs for m in db.runs() if m.run_id.startswith(name)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = "; ".join(f"{db.path}: {', '.join(m.run_id for m in db.runs()) or 'none'}" for db in dbs)
        raise UsageError(f"no run {name!r} in the stores given; stored runs: {known}")
    where = ", ".join(f"{m.run_id} in {db.path}" for db, m in found)
    raise UsageError(f"run {name!r} is ambiguous across the stores ({where}); give more of the id or one store")


def resolve_runs(store: Stores, names: Sequence[str]) -> list[RunData]:
    """The named runs, each from the one store that holds it."""
    paths = store_list(store)
    if len(paths) == 1:  # one store: its own messages (unknown run, ambiguous prefix)
        with open_store(paths[0]) as db:
            return [load_run(db, run_id) for run_id in resolve_run_ids(db, names)]
    with ExitStack() as stack:
        dbs = [stack.enter_context(open_store(p)) for p in paths]
        picked = [_find(dbs, name) for name in names]
        ids = [m.run_id for _, m in picked]
        if len(set(ids)) != len(ids):
            raise UsageError(f"a run is named twice: {' '.join(names)}")
        return [load_run(db, m.run_id) for db, m in picked]


def pick_run(runs: Sequence[RunData], names: Sequence[str], ref: str, what: str) -> RunData:
    """The run among those given that `ref` names: as it was given, by its id or a unique prefix."""
    if ref in names:
        return runs[list(names).index(ref)]
    found = [r for r in runs if r.run_id == ref] or [r for r in runs if r.run_id.startswith(ref)]
    if len(found) != 1:
        verdict = "names none" if not found else "is ambiguous"
        raise UsageError(f"{what} {ref!r} {verdict} of the runs given ({', '.join(r.run_id for r in runs)})")
    return found[0]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")


@dataclass
class ComparisonResult:
    a: RunData
    b: RunData
    comparisons: list[Comparison]  # one per column of the paper's table, then the Average (and Pooled)
    preset_mismatch: bool  # the runs used different presets (compared only when allowed)


def compare(
    run_a: str, run_b: str, *, store: Stores = DEFAULT_STORE, alpha: float = 0.05, allow_preset_mismatch: bool = False
) -> ComparisonResult:
    """B against A per column and overall: difference, its interval, a paired test on shared episodes."""
    _check_alpha(alpha)
    a, b = resolve_runs(store, [run_a, run_b])
    mismatch = check_presets([a, b], allow=allow_preset_mismatch)
    layout = layout_for(a.benchmark, a.rows + b.rows)
    return ComparisonResult(a, b, compare_runs(layout, a, b, alpha=alpha), mismatch)


@dataclass
class ReportResult:
    report: Report
    files: ReportFiles


def report(
    runs: Sequence[str],
    *,
    store: Stores = DEFAULT_STORE,
    out: str | Path | None = None,
    baselines: str | Path | None = None,
    allow_preset_mismatch: bool = False,
    alpha: float = 0.05,
    labels: Mapping[str, str] | None = None,
    baseline: str | None = None,
    include_paths: bool = False,
    latex: LatexOptions | None = None,
) -> ReportResult:
    """The report of these runs (markdown, LaTeX, HTML, figures) in `out` (default reports/<runs>/).

    labels: run (as given, id or prefix) -> the name its rows get (default: the label stored with
    `run --label`, else the id); baseline: the run the others are compared against (default: the
    first); include_paths: name host paths and host names in the manifest; latex: tables.tex options."""
    _check_alpha(alpha)
    names = list(runs)
    data = resolve_runs(store, names)
    renamed = {pick_run(data, names, ref, "label for").run_id: name for ref, name in (labels or {}).items()}
    data = [dataclasses.replace(r, label=renamed.get(r.run_id, r.label)) for r in data]
    reference = pick_run(data, names, baseline, "baseline").run_id if baseline else None
    folder = Path(out) if out is not None else default_out_dir(data)
    built = build_report(
        data,
        load_baselines(baseline_dirs(baselines)),
        out_dir=folder.resolve(),
        allow_preset_mismatch=allow_preset_mismatch,
        alpha=alpha,
        baseline=reference,
        include_paths=include_paths,
    )
    return ReportResult(built, write_report(built, folder, latex=latex or LatexOptions()))


def load_runs(store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """One row per stored run: what it evaluated, under which protocol, and how it did so far."""
    import pandas as pd

    rows = []
    with open_store(store) as db:
        for run in db.runs():
            episodes = db.episode_rows(run.run_id)
            successes = sum(bool(e["success"]) for e in episodes)
            rows.append(
                {
                    "run_id": run.run_id,
                    "benchmark": run.benchmark,
                    "policy": run.policy_name,
                    "checkpoint_digest": run.checkpoint_digest,
                    "checkpoint": run.spec.get("checkpoint"),
                    "preset": run.preset_name,
                    "preset_hash": run.preset_hash,
                    "trained": run.policy.get("trained", True),
                    "episodes": len(episodes),
                    "planned": len(db.planned_ids(run.run_id)),
                    "successes": successes,
                    "success_rate": successes / len(episodes) if episodes else float("nan"),
                    "errors": sum(e["end_reason"] == "error" for e in episodes),
                    "created_at": run.created_at,
                    "finished_at": run.finished_at,
                }
            )
    return pd.DataFrame(rows)


def load_episodes(run: str, *, store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """Every stored episode of a run (id, unique prefix or 'latest'), one row each."""
    with open_store(store) as db:
        (run_id,) = resolve_run_ids(db, [run])
        return db.episodes_frame(run_id)
