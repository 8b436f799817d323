"""The report with this installation's benchmark facts: the one place that hands the report (which
reads only the store and harness/api) what envs/ knows: each benchmark's paper table layout
(`Benchmark.table_layout`), its task order, and the built-in presets' hashes.

Facts come from the code installed now, not from the store, so a report of a run stored by an older
wam-eval is drawn as today's benchmark declares its table. `build_report`, `load_baselines`,
`load_baseline_file` and `layout_for` are the report's functions with these facts given.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from envs.presets import builtin_presets
from envs.registry import BENCHMARKS, benchmark_class
from harness.api.report_facts import ReportFacts, TableLayout, TaskOrder
from harness.report import baselines as _baselines
from harness.report import model as _model
from harness.report.aggregate import RunData
from harness.report.baselines import BaselineLatency, BaselineResult, BaselineSet, Source
from harness.report.model import Report


def _task_order(cls: type) -> TaskOrder:
    """(suite, task) -> task index from the benchmark's catalog; a report must also work where the
    simulator is not installed, so any failure means 'order by name'."""
    try:
        return {(s.name, t.name): t.index for s in cls().suites() for t in s.tasks}
    except Exception:  # noqa: BLE001 - an optional nicety
        return {}


def report_facts() -> ReportFacts:
    """The facts of every registered benchmark (envs/registry.py)."""
    layouts: dict[str, TableLayout] = {}
    orders: dict[str, TaskOrder] = {}
    for name in BENCHMARKS:
        try:
            cls = benchmark_class(name)
        except Exception:  # noqa: BLE001 - a benchmark that does not load here: drawn without its facts
            continue
        layout = getattr(cls, "table_layout", None)
        if isinstance(layout, TableLayout):
            layouts[name] = layout
        orders[name] = _task_order(cls)
    hashes = {name: preset.hash for name, preset in builtin_presets().items()}
    return ReportFacts(layouts=layouts, task_orders=orders, builtin_preset_hashes=hashes)


def layout_for(benchmark: str, rows: Sequence[Mapping] = ()) -> TableLayout:
    return report_facts().layout_for(benchmark, rows)


def load_baseline_file(path: Path) -> tuple[Source, list[BaselineResult], list[BaselineLatency]]:
    return _baselines.load_baseline_file(path, facts=report_facts())


def load_baselines(dirs: Iterable[Path]) -> BaselineSet:
    return _baselines.load_baselines(dirs, facts=report_facts())


def build_report(runs: Sequence[RunData], baselines: BaselineSet, **options: Any) -> Report:
    """harness.report.model.build_report with the registered benchmarks' facts."""
    return _model.build_report(runs, baselines, facts=report_facts(), **options)
