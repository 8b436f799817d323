"""Stored runs from Python: `compare`, `report`, `load_runs`, `load_episodes` (the CLI's compare and
report call these)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.api.errors import UsageError
from harness.cli.stores import DEFAULT_STORE
from harness.report import ReportFiles, default_out_dir, write_report
from harness.report.aggregate import RunData, latest_run_id, load_run, open_store
from harness.report.baselines import baseline_dirs, load_baselines
from harness.report.compare import Comparison, check_presets, compare_runs
from harness.report.layout import layout_for
from harness.report.model import Report, build_report
from harness.store import ResultStore

if TYPE_CHECKING:
    import pandas as pd

LATEST = "latest"


def resolve_run_ids(db: ResultStore, names: Sequence[str]) -> list[str]:
    """Each run's id from its id, a unique prefix or 'latest' (the last run updated)."""
    ids = [latest_run_id(db) if name == LATEST else db.get_run(name).run_id for name in names]
    if len(set(ids)) != len(ids):
        raise UsageError(f"a run is named twice: {' '.join(names)}")
    return ids


def resolve_runs(store: str | Path, names: Sequence[str]) -> list[RunData]:
    with open_store(store) as db:
        return [load_run(db, run_id) for run_id in resolve_run_ids(db, names)]


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"alpha must be between 0 and 1, not {alpha}")


@dataclass
class ComparisonResult:
    a: RunData
    b: RunData
    comparisons: list[Comparison]  # one per column of the paper's table, then the Average (and Pooled)
    preset_mismatch: bool  # the runs used different presets (compared only when allowed)


def compare(run_a: str, run_b: str, *, store: str | Path = DEFAULT_STORE, alpha: float = 0.05,
            allow_preset_mismatch: bool = False) -> ComparisonResult:
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


def report(runs: Sequence[str], *, store: str | Path = DEFAULT_STORE, out: str | Path | None = None,
           baselines: str | Path | None = None, allow_preset_mismatch: bool = False,
           alpha: float = 0.05) -> ReportResult:
    """The report of these runs (markdown, LaTeX, HTML, figures) in `out` (default reports/<runs>/)."""
    _check_alpha(alpha)
    data = resolve_runs(store, list(runs))
    folder = Path(out) if out is not None else default_out_dir(data)
    built = build_report(data, load_baselines(baseline_dirs(baselines)), out_dir=folder.resolve(),
                         allow_preset_mismatch=allow_preset_mismatch, alpha=alpha)
    return ReportResult(built, write_report(built, folder))


def load_runs(store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """One row per stored run: what it evaluated, under which protocol, and how it did so far."""
    import pandas as pd

    rows = []
    with open_store(store) as db:
        for run in db.runs():
            episodes = db.episode_rows(run.run_id)
            successes = sum(bool(e["success"]) for e in episodes)
            rows.append({
                "run_id": run.run_id, "benchmark": run.benchmark, "policy": run.policy_name,
                "checkpoint_digest": run.checkpoint_digest, "checkpoint": run.spec.get("checkpoint"),
                "preset": run.preset_name, "preset_hash": run.preset_hash,
                "trained": bool(run.policy.get("trained", True)), "episodes": len(episodes),
                "planned": len(db.planned_ids(run.run_id)), "successes": successes,
                "success_rate": successes / len(episodes) if episodes else float("nan"),
                "errors": sum(e["end_reason"] == "error" for e in episodes),
                "created_at": run.created_at, "finished_at": run.finished_at,
            })
    return pd.DataFrame(rows)


def load_episodes(run: str, *, store: str | Path = DEFAULT_STORE) -> pd.DataFrame:
    """Every stored episode of a run (id, unique prefix or 'latest'), one row each."""
    with open_store(store) as db:
        (run_id,) = resolve_run_ids(db, [run])
        return db.episodes_frame(run_id)
