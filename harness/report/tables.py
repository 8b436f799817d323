"""The report's tables as plain data (header, rows of cells, notes); each writer only styles them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from harness.api.protocol import ProtocolStack
from harness.report.aggregate import RunData, drifted_tasks
from harness.report.compare import AVERAGE, POOLED
from harness.report.figures import call_latencies
from harness.report.format import (
    DRIFT_MARK,
    EMPTY,
    INFERRED_MARK,
    OTHER_PROTOCOL_MARK,
    PRESET_MISMATCH_MARK,
    CellText,
    baseline_cell,
    comparison_words,
    p_text,
    pairing_text,
    run_cell,
    run_title,
    when,
)
from harness.report.model import BenchmarkSection, Report
from harness.report.privacy import scrub, scrub_path

Cellish = CellText | str


@dataclass
class Row:
    cells: list[Cellish]
    kind: str = "plain"  # "baseline", "run" (ours), "plain"


@dataclass
class Table:
    name: str  # stable id (HTML id, LaTeX label)
    title: str
    header: list[str]
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


def _wam_eval_text(recorded: dict | None) -> str:
    """The wam-eval that ran the run, as its driver recorded it (runs before this was recorded: unknown)."""
    if not recorded:
        return "not recorded"
    commit = recorded.get("commit")
    return f"{recorded.get('version', '?')}" + (f" (commit {commit})" if commit else "")


def _trained_text(trained: bool | None) -> str:
    return "n/a (no weights)" if trained is None else ("yes" if trained else "NO")


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def main_table(section: BenchmarkSection, confidence: float) -> Table:
    layout = section.layout
    judged = bool(section.verdicts)  # a Verdict column beside each of our cells

    def with_verdicts(cells: list[Cellish], verdicts: dict[str, str] | None) -> list[Cellish]:
        if not judged:
            return cells
        keys = [c.key for c in layout.columns] + ["average"]
        out = cells[:2]
        for i, key in enumerate(keys):
            out += [cells[2 + i], (verdicts or {}).get(key, "-") if verdicts is not None else ""]
        return out + cells[2 + len(keys):]

    header = ["Method", "Emb. pretraining"] + [c.label for c in layout.columns] + ["Average", "Protocol"]
    if judged:
        header = with_verdicts(header, {k: "Verdict" for k in [c.key for c in layout.columns] + ["average"]})
    rows = []
    for base in section.baselines:
        mark = OTHER_PROTOCOL_MARK if section.protocol_differs(base) else ""
        cells: list[Cellish] = [base.label + mark, _yes_no(base.embodied_pretraining)]
        cells += [baseline_cell(base, c.key, confidence) for c in layout.columns]
        cells += [baseline_cell(base, None, confidence), base.protocol]
        rows.append(Row(with_verdicts(cells, None), "baseline"))
    for row in section.rows:
        mark = PRESET_MISMATCH_MARK if section.preset_mismatch and section.preset_differs(row.run) else ""
        cells = [run_title(row.run) + (" (partial)" if row.run.partial else "") + mark, "-"]
        cells += [run_cell(row.cells.get(c.key), confidence) for c in layout.columns]
        cells += [
            run_cell(row.average, confidence) if not row.average.empty else EMPTY,
            f"{row.run.manifest.preset_name} #{row.run.manifest.preset_hash}",
        ]
        rows.append(Row(with_verdicts(cells, section.verdicts.get(row.run.run_id, {})), "run"))
    pct_ci = int(round(confidence * 100))
    trials = f" ({layout.paper_trials} in the paper)" if layout.paper_trials else ""
    printed = f", as {layout.paper_table} prints it" if layout.paper_table else ""
    if layout.mean_over_tasks:
        how = (
            f"Each {layout.group_label} column is the mean over tasks{trials}; "
            f"Average is the mean of the {len(layout.columns)} columns{printed}"
        )
    else:
        how = (
            f"Each {layout.group_label} column pools its episodes{trials}; "
            f"Average is the mean over the {len(layout.columns)} {layout.group_label}s{printed}"
        )
    notes = [
        f"Success rate (%) [{pct_ci}% Wilson interval] and n = episodes; error episodes count as failures. {how}.",
        "Paper rows: the number as printed; their interval uses the paper's trial count (Average: the mean of the "
        "printed columns' estimates).",
    ]
    if judged and section.verdict_note:
        notes.append(section.verdict_note)
    if any(b.name_inferred for b in section.baselines):
        notes.append(f"{INFERRED_MARK} method name lost in the source text and inferred from its figures.")
    if any(section.protocol_differs(b) for b in section.baselines):
        labels = ", ".join(sorted({r.preset_label for r in section.runs}))
        notes.append(
            f"{OTHER_PROTOCOL_MARK} measured under another protocol than this report's run(s) ({labels}); "
            "a protocol named after a built-in preset is compared by content hash: compare with care."
        )
    for run in section.edited_builtins():
        notes.append(
            f"{run.run_id}: its preset is named {run.manifest.preset_name} but is not the built-in "
            f"{run.manifest.preset_name} #{section.builtin_hashes[run.manifest.preset_name]} "
            f"(#{run.manifest.preset_hash}): rows measured under the built-in one are marked {OTHER_PROTOCOL_MARK}."
        )
    for run in section.runs:
        stored = ProtocolStack.from_content(run.manifest.preset)
        differs = [f"{pkg} {have} (the protocol's {want})"
                   for pkg, want, have in stored.simulator_differences(run.manifest.versions)]
        if differs and stored.official and stored.other_stack_label:
            notes.append(
                f"{run.run_id}: {stored.other_stack_label} (not the official protocol): simulated with "
                f"{', '.join(differs)}."
            )
        elif differs:
            notes.append(
                f"{run.run_id}: simulated with {', '.join(differs)}; {run.manifest.preset_name}'s authors ran the "
                "protocol's version, and LIBERO success rates move with MuJoCo's."
            )
        drifted = drifted_tasks(run)
        if drifted:
            tasks = "; ".join(f"{suite} {task} ({n} episode(s), up to {dev:.3g})" for suite, task, n, dev in drifted)
            stack = ", ".join(f"{k} {v}" for k, v in run.manifest.versions.items() if k != "python")
            notes.append(
                f"{DRIFT_MARK} {run.run_id}: DRIFT: episodes of these tasks started from another simulator state "
                f"than the reference stack's golden states (largest qpos deviation after warm-up): {tasks}. "
                f"Simulated on {stack}. Their success rates are not comparable with the paper's; `wam-eval doctor` "
                "names what drifts on a stack."
            )
    if section.preset_mismatch:
        first = section.baseline
        others = ", ".join(sorted({r.preset_label for r in section.runs if section.preset_differs(r)}))
        notes.append(
            f"{PRESET_MISMATCH_MARK} PRESET MISMATCH: the marked runs used another preset ({others}) than the "
            f"reference run {first.run_id} ({first.preset_label}); shown side by side because "
            "--allow-preset-mismatch was given."
        )
    for row in section.rows:
        if row.outside:
            notes.append(
                f"{row.run.run_id}: {row.outside} episode(s) outside this table's columns are in the per-task table."
            )
    return Table(
        f"{layout.benchmark}-main", "Success rate (%): the paper's rows, then this report's runs", header, rows, notes
    )


def compact_tables(section: BenchmarkSection, confidence: float) -> tuple[Table, Table]:
    """The paper-style table (rates only: the paper's rows as printed, then ours, named by their
    labels) and its companion holding each rate's interval and n in the same layout."""
    layout = section.layout
    header = ["Method"] + [c.label for c in layout.columns] + ["Average"]
    rates, intervals = [], []
    for base in section.baselines:
        cells = [baseline_cell(base, c.key, confidence) for c in layout.columns] + [
            baseline_cell(base, None, confidence)
        ]
        name = base.label + (OTHER_PROTOCOL_MARK if section.protocol_differs(base) else "")
        rates.append(Row([name, *(CellText(c.rate) for c in cells)], "baseline"))
        intervals.append(Row([name, *(CellText("", c.interval, c.n) if c.interval else EMPTY for c in cells)],
                             "baseline"))
    for row in section.rows:
        name = run_title(row.run) + (" (partial)" if row.run.partial else "")
        cells = [run_cell(row.cells.get(c.key), confidence) for c in layout.columns]
        cells.append(run_cell(row.average, confidence) if not row.average.empty else EMPTY)
        rates.append(Row([name, *(CellText(c.rate) for c in cells)], "run"))
        intervals.append(Row([name, *(CellText("", c.interval, c.n) if c.interval else EMPTY for c in cells)], "run"))
    pct_ci = int(round(confidence * 100))
    notes = [f"Success rate (%); best per column in bold. {OTHER_PROTOCOL_MARK}: another protocol than our runs'."
             if any(section.protocol_differs(b) for b in section.baselines) else
             "Success rate (%); best per column in bold."]
    name = layout.benchmark
    return (
        Table(f"{name}-compact", f"{layout.title}: success rate (%)", header, rates, notes),
        Table(f"{name}-intervals", f"{layout.title}: {pct_ci}% Wilson intervals and episodes per cell", header,
              intervals, ["Paper rows: intervals from the paper's trial count (500 per LIBERO suite, 100 per "
                          "RoboTwin task); ours: from the episodes stored."]),
    )


def comparison_tables(section: BenchmarkSection, alpha: float) -> list[Table]:
    out = []
    for a, b, comps in section.comparisons:
        header = [
            "Column",
            "A",
            "B",
            f"B - A [{int(round((1 - alpha) * 100))}% CI]",
            "Test",
            "p",
            "Verdict (B vs A)",
            "Episodes",
        ]
        rows = [
            Row(
                [
                    c.label,
                    f"{100 * c.a.rate:.1f} (n={c.a.n})",
                    f"{100 * c.b.rate:.1f} (n={c.b.n})",
                    comparison_words(c),
                    c.test,
                    p_text(c.p_value),
                    c.verdict,
                    pairing_text(c),
                ]
            )
            for c in comps
        ]
        notes = [
            f"A = {a.name} (run {a.run_id}, {a.preset_label}), B = {b.name} (run {b.run_id}, {b.preset_label}).",
            f"'better'/'worse' only where the test's p < {alpha:g}; per-column tests are not corrected for "
            "multiplicity. The verdict follows the test, not the interval: Newcombe's score intervals are not "
            "the inversion of the exact McNemar or z-test, so near the boundary the two can disagree, and the "
            "verdict then says so ('by the test; the interval excludes 0').",
            "Paired (exact McNemar, Newcombe paired interval) on episode keys both runs share; otherwise "
            "independent (two-proportion z-test, Newcombe hybrid score interval). Each column is formed as the "
            "main table forms it"
            + (" (a mean over tasks: the mean of the per-task differences)." if section.layout.mean_over_tasks else ".")
            + f" {AVERAGE}: the paper's Average difference, the mean of the K column differences; its interval "
            "combines the columns' intervals with their variances summed over K^2 (MOVER); its test weights the "
            "columns' episodes as that mean does (the exact McNemar or z-test of the pooled episodes when every "
            f"column has as many). {POOLED} (shown where pooling weights episodes otherwise): every compared "
            "episode pooled.",
        ]
        if a.manifest.preset_hash != b.manifest.preset_hash:
            notes.append(f"{PRESET_MISMATCH_MARK} PRESET MISMATCH: {a.preset_label} vs {b.preset_label}.")
        out.append(
            Table(
                f"{section.layout.benchmark}-compare-{len(out) + 1}",
                f"{b.name} vs {a.name} (baseline {a.name}: {section.baseline_how})",
                header,
                rows,
                notes,
            )
        )
    return out


def matched_table(section: BenchmarkSection, alpha: float) -> Table | None:
    """Per run: the second condition minus the first on matched seeds (RoboTwin: randomized - clean)."""
    if not section.matched:
        return None
    label = section.matched[0][1].label
    header = [
        "Run",
        section.layout.label_for(section.layout.matched_pair[0]),
        section.layout.label_for(section.layout.matched_pair[1]),
        f"{label} [{int(round((1 - alpha) * 100))}% CI]",
        "Test",
        "p",
        "Episodes",
    ]
    rows = [
        Row(
            [
                run.name,
                f"{100 * c.a.rate:.1f} (n={c.a.n})",
                f"{100 * c.b.rate:.1f} (n={c.b.n})",
                comparison_words(c),
                c.test,
                p_text(c.p_value),
                pairing_text(c),
            ],
            "run",
        )
        for run, c in section.matched
    ]
    notes = [
        "Episodes of the two settings started from the same seed of the same task are pairs (exact McNemar "
        "on them); where no seed matches, the settings are compared as independent samples."
    ]
    return Table(f"{section.layout.benchmark}-matched", f"{label} on matched seeds", header, rows, notes)


def task_table(section: BenchmarkSection, confidence: float) -> Table:
    runs = section.runs
    settings = sorted({t.setting for _, trows in section.tasks for t in trows})
    header = ["Suite", "Task"] + (["Setting"] if len(settings) > 1 else [])
    header += [run.name for run in runs] if len(runs) > 1 else ["Success", "Errors", "Mean steps", "Steps to success"]
    keys: list[tuple[str, str, str]] = []
    lookup = {}
    for run, trows in section.tasks:
        for t in trows:
            if (t.suite, t.task, t.setting) not in keys:
                keys.append((t.suite, t.task, t.setting))
            lookup[(run.run_id, t.suite, t.task, t.setting)] = t
    rows = []
    for suite, task, setting in keys:
        cells: list[Cellish] = [
            section.layout.label_for(suite) if section.layout.group_label == "suite" else suite,
            task,
        ]
        if len(settings) > 1:
            cells.append(setting)
        if len(runs) > 1:
            for run in runs:
                t = lookup.get((run.run_id, suite, task, setting))
                cells.append(run_cell(t.cell, confidence) if t else EMPTY)
        else:
            t = lookup[(runs[0].run_id, suite, task, setting)]
            steps_ok = "-" if t.mean_steps_success is None else f"{t.mean_steps_success:.0f}"
            cells += [run_cell(t.cell, confidence), str(t.cell.errors), f"{t.mean_steps:.0f}", steps_ok]
        rows.append(Row(cells, "run"))
    notes = ["Per task: success (%) [Wilson interval], n; 'partial' where fewer episodes are stored than planned."]
    return Table(f"{section.layout.benchmark}-tasks", "Success per task", header, rows, notes)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if len(values) else 0.0


def latency_table(report: Report) -> Table:
    """One unit per column, said in its header: a step, an episode or a policy call."""
    header = [
        "Run / method",
        "Device",
        "Env step (ms/step)",
        "Render (ms/episode)",
        "Policy (ms/episode)",
        "Queue (ms/episode)",
        "Policy calls",
        "p50 (ms/call)",
        "p90 (ms/call)",
    ]
    rows = []
    for run in report.runs:
        steps = sum(r["steps"] + r["warmup_steps"] for r in run.rows) or 1
        calls = call_latencies(run)
        rows.append(
            Row(
                [
                    run.name,
                    str(run.manifest.spec.get("device", "-")),
                    f"{sum(r['env_ms'] for r in run.rows) / steps:.1f}",
                    f"{_mean([r['render_ms'] for r in run.rows]):.0f}",
                    f"{_mean([r['policy_ms'] for r in run.rows]):.0f}",
                    f"{_mean([r['queue_ms'] for r in run.rows]):.0f}",
                    str(len(calls)),
                    f"{np.percentile(calls, 50):.1f}" if len(calls) else "-",
                    f"{np.percentile(calls, 90):.1f}" if len(calls) else "-",
                ],
                "run",
            )
        )
    for ref in report.latencies:
        rows.append(
            Row(
                [ref.method + OTHER_PROTOCOL_MARK, ref.hardware, "-", "-", "-", "-", "-", f"{ref.latency_ms:.0f}", "-"],
                "baseline",
            )
        )
    notes = [
        "Env step: simulator time per step (warm-up steps included). Render, Policy, Queue: mean per episode. "
        "p50/p90 per call: policy + queue time of one inference (transforms included), from the calls each "
        "episode stored."
    ]
    if report.latencies:
        notes.append(
            f"{OTHER_PROTOCOL_MARK} paper's Figure 4: {report.latencies[0].protocol}; other hardware and task."
        )
    return Table("latency", "Latency", header, rows, notes)


def manifest_table(run: RunData, *, include_paths: bool = False) -> Table:
    """What the run was. Without include_paths, no host name and no host path (a path keeps its last
    component): a report folder is meant to be shared."""
    m = run.manifest
    shown = (lambda text: text) if include_paths else scrub_path
    rows = [
        ("Run", m.run_id),
        ("Identity", m.identity),
        ("Benchmark", m.benchmark),
        ("Policy", f"{m.policy_name} (checkpoint {m.checkpoint_digest}; trained: {_trained_text(run.trained)}"
                   + ("; ORACLE: privileged simulator state" if run.privileged else "") + ")"),
        (
            "Preset",
            f"{m.preset_name} v{m.preset.get('version', '?')} #{m.preset_hash}"
            f" ({ProtocolStack.from_content(m.preset).protocol_kind(m.versions)})",
        ),
        ("Preset source", shown(str(m.preset.get("source", "")))),
        ("Versions", ", ".join(f"{k} {v}" for k, v in m.versions.items())),
        ("Spec", json.dumps(m.spec if include_paths else scrub(m.spec), sort_keys=True)),
        ("wam-eval", _wam_eval_text(m.spec.get("wam_eval"))),
        *([("Host", m.host)] if include_paths else []),
        ("Created", when(m.created_at)),
        ("Last episode", when(m.updated_at)),
        ("Finished", when(m.finished_at)),
        (
            "Episodes",
            f"{len(run.rows)} stored of {len(run.planned)} planned"
            + (" (PARTIAL)" if run.partial else "")
            + f"; {sum(1 for r in run.rows if r['end_reason'] == 'error')} errors",
        ),
        *([("Store", str(run.store_path or ""))] if include_paths else []),
    ]
    for i, inv in enumerate(run.invocations, 1):
        argv = shown(" ".join(json.loads(inv["argv"]))) if inv.get("argv") else ""
        where = f" on {inv['host']}" if include_paths else ""
        outcome = shown(inv.get("outcome") or "running or killed")
        rows.append((f"Invocation {i}", f"{when(inv['started_at'])}{where}: {argv} -> {outcome}"))
    return Table(
        f"manifest-{m.run_id}", f"Run manifest: {m.run_id}", ["Field", "Value"], [Row([k, v]) for k, v in rows]
    )
