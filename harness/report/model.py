"""Everything a report shows, computed once; the markdown, LaTeX and HTML writers only format it."""

from __future__ import annotations

import dataclasses
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from harness.api.report_facts import ReportFacts, TableLayout
from harness.api.version import git_commit, wam_eval_version
from harness.report.aggregate import RunData, RunRow, TaskRow, run_row, task_rows
from harness.report.baselines import BaselineLatency, BaselineResult, BaselineSet
from harness.report.compare import Comparison, check_presets, compare_runs, matched_seed_delta
from harness.report.figures import FigurePNG, latency_breakdown, success_vs_length, suite_bars, task_heatmap


@dataclass(frozen=True)
class Video:
    run: RunData
    episode_id: str
    success: bool
    steps: int
    path: Path  # where the run stored it
    link: str  # inside the report folder (videos/<run>/<file>), where write_report copies or hard-links it
    available: bool = True  # False: the stored file was gone when the report was built


@dataclass
class BenchmarkSection:
    layout: TableLayout
    runs: list[RunData]
    rows: list[RunRow]
    baselines: list[BaselineResult]
    tasks: list[tuple[RunData, list[TaskRow]]]
    comparisons: list[tuple[RunData, RunData, list[Comparison]]]
    preset_mismatch: bool
    matched: list[tuple[RunData, Comparison]] = field(default_factory=list)  # e.g. randomized - clean
    reference: RunData | None = None  # the run the others are compared against (None: runs[0])
    baseline_how: str = "the first run given"  # why it is the reference, said in the headings
    figures: list[FigurePNG] = field(default_factory=list)
    # Reproduction verdicts (`wam-eval reproduce`): run id -> column key (or "average") -> verdict,
    # shown beside that run's cells, with `verdict_note` saying what they were judged against.
    verdicts: dict[str, dict[str, str]] = field(default_factory=dict)
    verdict_note: str = ""

    # name -> content hash of wam-eval's built-in presets, which baseline rows name as protocols.
    builtin_hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def presets(self) -> list[str]:
        return sorted({r.manifest.preset_name for r in self.runs})

    def protocol_differs(self, baseline: BaselineResult) -> bool:
        """Whether some run of this section was not evaluated under the baseline's protocol. A
        built-in preset is compared by content hash: a preset edited under its old name is another
        protocol, whatever it is called. A protocol that is no built-in preset ("as reported by ...",
        a user's own preset) can only be compared by name."""
        builtin = self.builtin_hashes.get(baseline.protocol)
        if builtin is not None:
            return any(r.manifest.preset_hash != builtin for r in self.runs)
        return any(r.manifest.preset_name != baseline.protocol for r in self.runs)

    def edited_builtins(self) -> list[RunData]:
        """Runs whose preset carries a built-in preset's name but not its content."""
        return [
            r
            for r in self.runs
            if r.manifest.preset_name in self.builtin_hashes
            and r.manifest.preset_hash != self.builtin_hashes[r.manifest.preset_name]
        ]

    @property
    def baseline(self) -> RunData:
        return self.reference or self.runs[0]

    def preset_differs(self, run: RunData) -> bool:
        """Whether the run's preset differs from the reference run's, which every comparison takes as A."""
        return run.manifest.preset_hash != self.baseline.manifest.preset_hash


@dataclass
class Report:
    title: str
    runs: list[RunData]
    sections: list[BenchmarkSection]
    baselines: BaselineSet
    latencies: list[BaselineLatency]
    videos: list[Video]
    confidence: float
    alpha: float
    generated_at: float
    figures: list[FigurePNG] = field(default_factory=list)  # not tied to one benchmark (latency)
    # Host names and host paths in the manifest (`report --include-paths`); left out by default.
    include_paths: bool = False
    # Which wam-eval wrote the report: {"version": ..., "commit": ... or None}.
    generator: Mapping[str, str | None] = field(default_factory=dict)

    def distinct_presets(self) -> list[tuple[str, str, dict, list[RunData]]]:
        """(name, hash, content, runs) once per preset content the runs used."""
        seen: dict[str, tuple[str, str, dict, list[RunData]]] = {}
        for run in self.runs:
            m = run.manifest
            seen.setdefault(m.preset_hash, (m.preset_name, m.preset_hash, m.preset, []))[3].append(run)
        return list(seen.values())

    @property
    def untrained(self) -> list[RunData]:
        return [r for r in self.runs if r.untrained]

    @property
    def oracles(self) -> list[RunData]:
        return [r for r in self.runs if r.privileged]

    @property
    def partial(self) -> list[RunData]:
        return [r for r in self.runs if r.partial]

    def all_figures(self) -> list[FigurePNG]:
        return [f for s in self.sections for f in s.figures] + self.figures


def _videos(runs: Sequence[RunData]) -> list[Video]:
    """The recorded videos, each linked inside the report folder (videos/<run>/<file>), so that the
    folder can be moved or shared with its videos; write_report puts the files there."""
    out = []
    for run in runs:
        folder = re.sub(r"[^A-Za-z0-9_.+-]+", "-", run.run_id)
        for r in run.rows:
            stored = r["extra"].get("video")
            if not stored:
                continue
            path = Path(stored)
            if not path.is_absolute() and run.store_path is not None:
                path = run.store_path.parent / path
            out.append(Video(run, r["episode_id"], bool(r["success"]), int(r["steps"]), path,
                             f"videos/{folder}/{path.name}", path.is_file()))
    return out


def build_report(
    runs: Sequence[RunData],
    baselines: BaselineSet,
    *,
    facts: ReportFacts,
    out_dir: Path,
    allow_preset_mismatch: bool = False,
    confidence: float = 0.95,
    alpha: float = 0.05,
    figures: bool = True,
    baseline: str | None = None,
    include_paths: bool = False,
) -> Report:
    """`facts`: what the benchmarks declare (table layouts, task order, built-in presets' hashes;
    harness/reporting.py gathers them); `baseline`: the run id every other run of its benchmark is
    compared against (None: the first run given); the comparison headings say which of the two it was."""
    mismatch = check_presets(runs, allow=allow_preset_mismatch)
    by_bench: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        by_bench[run.benchmark].append(run)
    sections = []
    for benchmark, group in by_bench.items():
        # Rows keep the order given; every comparison (and the preset check) takes the reference as A.
        reference = next((r for r in group if r.run_id == baseline), group[0])
        layout = facts.layout_for(benchmark, [r for run in group for r in run.rows])
        order = facts.task_order(benchmark)
        section = BenchmarkSection(
            layout=layout,
            runs=group,
            rows=[run_row(layout, run) for run in group],
            baselines=baselines.for_benchmark(benchmark),
            tasks=[(run, task_rows(layout, run, order)) for run in group],
            comparisons=[(reference, other, compare_runs(layout, reference, other, alpha=alpha))
                         for other in group if other is not reference],
            reference=reference,
            preset_mismatch=mismatch and len({r.manifest.preset_hash for r in group}) > 1,
            baseline_how="the first run given" if baseline is None else "chosen with --baseline",
            matched=[(run, c) for run in group if (c := matched_seed_delta(layout, run, alpha=alpha)) is not None],
            builtin_hashes=facts.builtin_preset_hashes,
        )
        if figures:
            drawn = (
                suite_bars(layout, section.rows, section.baselines, confidence),
                task_heatmap(layout, section.tasks),
                success_vs_length(layout, group),
            )
            section.figures = [dataclasses.replace(f, name=f"{benchmark}-{f.name}") for f in drawn]
        sections.append(section)
    report = Report(
        title="wam-eval report: " + ", ".join(r.name for r in runs),
        runs=list(runs),
        sections=sections,
        baselines=baselines,
        latencies=list(baselines.latencies),
        videos=_videos(runs),
        confidence=confidence,
        alpha=alpha,
        generated_at=time.time(),
        include_paths=include_paths,
        generator={"version": wam_eval_version(), "commit": git_commit()},
    )
    if figures:
        report.figures = [latency_breakdown(runs, baselines.latencies)]
    return report
