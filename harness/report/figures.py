"""The report's figures, drawn with matplotlib's object API (no pyplot: no global figure state) and
returned as PNG bytes, so the HTML can embed them and the report folder can keep them as files."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from harness.api.report_facts import TableLayout
from harness.report.aggregate import RunData, RunRow, TaskRow
from harness.report.baselines import BaselineLatency, BaselineResult

RUN_COLORS = ("#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285")
BASELINE_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "<", ">", "h", "*")
TIME_PARTS = (
    ("env_ms", "env step", "#4c6ef5"),
    ("render_ms", "render", "#15aabf"),
    ("policy_ms", "policy", "#f76707"),
    ("queue_ms", "queue", "#e64980"),
    ("reset_ms", "reset + warm-up", "#868e96"),
)


@dataclass(frozen=True)
class FigurePNG:
    name: str  # file stem under figures/
    title: str
    png: bytes
    alt: str
    # The drawn figure, kept so that tests can check what it holds (text positions, colours).
    figure: Figure | None = field(default=None, repr=False, compare=False)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def short_run_label(run: RunData, width: int = 38) -> str:
    """The run's label, else its id shortened in the middle so that the identity hash at its end stays
    readable."""
    rid = run.name
    if len(rid) <= width:
        return rid
    return rid[: width - 12] + "..." + rid[-9:]


# The paper's rows: each its own colour and marker, so that a reader can tell them apart in print
# and in greyscale alike. Our runs: large filled points in RUN_COLORS with their interval whiskers.
BASELINE_COLORS = ("#495057", "#7048e8", "#1098ad", "#f59f00", "#37b24d", "#e8590c", "#d6336c", "#845ef7",
                   "#0c8599", "#a61e4d", "#5c940d")


def suite_bars(
    layout: TableLayout, rows: Sequence[RunRow], baselines: Sequence[BaselineResult], confidence: float = 0.95
) -> FigurePNG:
    """Per column and Average: the paper's rows as small markers (colour + shape, in the legend) on
    the left of each slot, our runs as large points with Wilson whiskers on its right. Points, not
    bars: a 0% run is a point on the axis, not a bar of no height."""
    labels = [c.label for c in layout.columns] + ["Average"]
    keys = [c.key for c in layout.columns] + ["__average__"]
    fig = Figure(figsize=(max(7.5, 1.6 * len(labels) + 3.5), 4.4))
    ax = fig.add_subplot()
    x = np.arange(len(labels))
    for b, base in enumerate(baselines):
        xs, ys = [], []
        for j, key in enumerate(keys):
            value = base.average if key == "__average__" else base.success.get(key)
            if value is None:
                continue
            xs.append(x[j] - 0.42 + 0.4 * (b + 0.5) / max(1, len(baselines)))
            ys.append(value)
        color = BASELINE_COLORS[b % len(BASELINE_COLORS)]
        ax.scatter(xs, ys, marker=BASELINE_MARKERS[b % len(BASELINE_MARKERS)], s=30, color=color,
                   edgecolors="white", linewidths=0.4, zorder=4, label=f"{base.label} (paper)")
    step = 0.4 / max(1, len(rows))
    for i, row in enumerate(rows):
        centres, rates, lows, highs = [], [], [], []
        for j, key in enumerate(keys):
            cell = row.average if key == "__average__" else row.cells.get(key)
            if cell is None or cell.empty:
                continue
            lo, hi = cell.estimate.interval(confidence)
            centres.append(x[j] + 0.04 + step * (i + 0.5))
            rates.append(100 * cell.estimate.rate)
            # Clipped at 0: at a rate of 0 or 1 the interval's end can sit a rounding error inside it.
            lows.append(max(0.0, 100 * (cell.estimate.rate - lo)))
            highs.append(max(0.0, 100 * (hi - cell.estimate.rate)))
        color = RUN_COLORS[i % len(RUN_COLORS)]
        label = short_run_label(row.run) + (" (partial)" if row.run.partial else "")
        label += " (untrained)" if row.run.untrained else ""
        label += " (ORACLE)" if row.run.privileged else ""
        ax.errorbar(centres, rates, yerr=[lows, highs], fmt="o", ms=8, color=color, mec="black", mew=0.8,
                    ecolor=color, elinewidth=1.6, capsize=4, zorder=5, label=label, clip_on=False)
    for j in range(1, len(labels)):
        ax.axvline(j - 0.5, color="#dee2e6", lw=0.8, zorder=0)
    ax.set_xticks(x, labels)
    ax.set_xlim(-0.5, len(labels) - 0.5)
    ax.set_ylim(-4, 104)  # room below 0 and above 100 so that points there are whole
    ax.set_ylabel("success rate (%)")
    ax.set_title(f"{layout.title}: success per {layout.group_label} (ours: {int(confidence * 100)}% Wilson "
                 "intervals)", fontsize=10)
    ax.grid(axis="y", color="#e9ecef", zorder=0)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return FigurePNG(
        "suites",
        "Success per column against the paper",
        _png(fig),
        "success rate per column: the paper's rows as coloured markers, our runs as points with interval whiskers",
        fig,
    )


def task_heatmap(layout: TableLayout, per_run: Sequence[tuple[RunData, Sequence[TaskRow]]]) -> FigurePNG:
    """Rows: tasks grouped by suite; columns: run x setting; colour and text: success rate."""
    tasks: list[tuple[str, str]] = []
    for _, trows in per_run:
        for t in trows:
            if (t.suite, t.task) not in tasks:
                tasks.append((t.suite, t.task))
    settings = sorted(
        {t.setting for _, trows in per_run for t in trows},
        key=lambda s: (layout.column_keys().index(s) if s in layout.column_keys() else 99, s),
    )
    cols = [(run, s) for run, _ in per_run for s in settings]
    grid = np.full((len(tasks), len(cols)), np.nan)
    text = [["" for _ in cols] for _ in tasks]
    lookup = {(run.run_id, t.suite, t.task, t.setting): t for run, trows in per_run for t in trows}
    for i, (suite, task) in enumerate(tasks):
        for j, (run, setting) in enumerate(cols):
            t = lookup.get((run.run_id, suite, task, setting))
            if t is None:
                continue
            if t.cell.n:
                grid[i, j] = 100 * t.cell.estimate.rate
                text[i][j] = f"{grid[i, j]:.0f}" + ("*" if t.cell.partial else "")
            else:
                text[i][j] = "-"
    height = max(2.5, 0.3 * len(tasks) + 1.6)
    fig = Figure(figsize=(min(14.0, 4.5 + 1.1 * len(cols)), height))
    ax = fig.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i in range(len(tasks)):
        for j in range(len(cols)):
            if text[i][j]:
                # RdYlGn is dark at both ends: white text there, black on the light middle.
                dark = not np.isnan(grid[i, j]) and (grid[i, j] < 25 or grid[i, j] > 85)
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8, fontweight="bold",
                        color="white" if dark else "black")
    ylabels = [(task if len(task) <= 48 else task[:45] + "...").replace("_", " ") for _, task in tasks]
    ax.set_yticks(range(len(tasks)), ylabels, fontsize=8)
    multi_setting = len(settings) > 1
    xlabels = [short_run_label(run, 24) + (f"\n{s}" if multi_setting else "") for run, s in cols]
    ax.set_xticks(range(len(cols)), xlabels, fontsize=8, rotation=20, ha="right")
    previous = None
    for i, (suite, _) in enumerate(tasks):
        if previous is not None and suite != previous:
            ax.axhline(i - 0.5, color="black", lw=1.2)
        if suite != previous:
            ax.annotate(
                layout.label_for(suite) if layout.group_label == "suite" else suite,
                xy=(1.01, i - 0.4),
                xycoords=("axes fraction", "data"),
                fontsize=8,
                fontweight="bold",
                va="top",
            )
        previous = suite
    fig.colorbar(image, ax=ax, label="success (%)", fraction=0.04, pad=0.12)
    ax.set_title("Success per task (* = fewer episodes than planned)", fontsize=10)
    return FigurePNG("tasks", "Success per task", _png(fig), "heat map of success rate per task and run", fig)


def success_vs_length(layout: TableLayout, runs: Sequence[RunData]) -> FigurePNG:
    """Share of a column's episodes that had succeeded by step t, against t: how the protocol's
    step limit (dashed) bounds the rate."""
    columns = [c for c in layout.columns if any(layout.column_of(r) == c.key for run in runs for r in run.rows)]
    n = max(1, len(columns))
    fig = Figure(figsize=(min(16.0, 3.6 * n + 0.5), 3.4))
    axes = fig.subplots(1, n, squeeze=False)[0]
    for ax, column in zip(axes, columns):
        limit = 0
        for i, run in enumerate(runs):
            rows = [r for r in run.rows if layout.column_of(r) == column.key]
            if not rows:
                continue
            limit = max(limit, max(r["steps"] for r in rows))
            succ = np.sort([r["steps"] for r in rows if r["success"]])
            xs = np.concatenate([[0], succ, [max(limit, succ[-1] if len(succ) else 0)]])
            ys = np.concatenate([[0], np.arange(1, len(succ) + 1), [len(succ)]]) * 100.0 / len(rows)
            ax.step(xs, ys, where="post", color=RUN_COLORS[i % len(RUN_COLORS)], label=short_run_label(run))
            fails = [r["steps"] for r in rows if not r["success"]]
            if fails:
                ax.axvline(max(fails), color=RUN_COLORS[i % len(RUN_COLORS)], ls="--", lw=0.8)
        ax.set_title(column.label, fontsize=10)
        ax.set_xlabel("env steps (warm-up excluded)")
        ax.set_ylim(-2, 102)
        ax.grid(color="#dee2e6")
    axes[0].set_ylabel("succeeded by step (%)")
    if runs:
        axes[-1].legend(fontsize=7, frameon=False, loc="upper left")
    fig.suptitle("Success against episode length (dashed: longest failed episode = the step limit)", fontsize=10)
    return FigurePNG(
        "length",
        "Success against episode length",
        _png(fig),
        "cumulative share of successful episodes against the step at which they succeeded",
        fig,
    )


def call_latencies(run: RunData) -> np.ndarray:
    """Per policy call: policy + queue milliseconds, from the calls each episode stored."""
    out = [c.get("policy_ms", 0.0) + c.get("queue_ms", 0.0) for r in run.rows for c in r["extra"].get("calls", [])]
    return np.asarray(out, dtype=float)


def latency_breakdown(runs: Sequence[RunData], paper: Sequence[BaselineLatency]) -> FigurePNG:
    """Left: where an episode's wall time goes (env, render, policy, queue, reset), per run. Right:
    the distribution of per-call policy latency, with the paper's Figure 4 numbers for reference."""
    fig = Figure(figsize=(12.0, max(3.0, 0.5 * len(runs) + 2.4)))
    left, right = fig.subplots(1, 2, sharey=True, gridspec_kw={"width_ratios": [1.2, 1]})
    labels = [short_run_label(r) for r in runs]
    y = np.arange(len(runs))
    start = np.zeros(len(runs))
    for part, name, color in TIME_PARTS:
        per_run = np.array([np.mean([row[part] for row in run.rows]) / 1000.0 if run.rows else 0.0 for run in runs])
        left.barh(y, per_run, left=start, color=color, label=name, height=0.6)
        start += per_run
    totals = np.array([np.mean([row["total_ms"] for row in run.rows]) / 1000.0 if run.rows else 0.0 for run in runs])
    left.barh(y, np.clip(totals - start, 0, None), left=start, color="#dee2e6", label="other (harness)", height=0.6)
    left.set_xlabel("seconds per episode (mean)")
    left.set_title("Where an episode's time goes", fontsize=10)
    left.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3)
    data = [call_latencies(run) for run in runs]
    for i, values in enumerate(data):
        if len(values):
            right.boxplot(
                [values],
                positions=[i],
                vert=False,
                widths=0.5,
                showfliers=False,
                medianprops={"color": RUN_COLORS[i % len(RUN_COLORS)], "lw": 2},
            )
        else:
            right.text(1.0, i, "no policy calls stored", fontsize=7, va="center")
    right.tick_params(axis="y", labelleft=False)
    # The box plots reset the shared y axis: label it once they are drawn.
    left.set_yticks(y, labels, fontsize=8)
    left.set_ylim(len(runs) - 0.5, -0.5)
    right.set_xscale("log")
    seen = [v for d in data for v in d if v > 0] + [ref.latency_ms for ref in paper]
    if seen:
        right.set_xlim(min(seen) / 2.0, max(seen) * 2.0)
    right.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    right.xaxis.set_minor_formatter(NullFormatter())
    right.set_xlabel("policy latency per call (ms, log scale)")
    right.set_title("Per-call latency (policy + queue)", fontsize=10)
    by_value: dict[float, list[str]] = {}
    for ref in paper:
        by_value.setdefault(ref.latency_ms, []).append(ref.method)
    # One label per reference line, each on a row of its own (top down, in order of latency) and on
    # a white box: labels of nearby lines (580 and 810 ms on a log axis) can then never overlap.
    rows = max(1, len(by_value))
    for k, (value, methods) in enumerate(sorted(by_value.items())):
        right.axvline(value, color="#868e96", ls=":", lw=1)
        right.annotate(
            f"{', '.join(methods)}: {value:.0f} ms",
            xy=(value, 0.97 - 0.9 * k / rows),
            xycoords=("data", "axes fraction"),
            xytext=(-3, 0),
            textcoords="offset points",
            fontsize=7,
            color="#343a40",
            va="top",
            ha="right",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
            zorder=6,
        )
    if paper:
        right.text(
            1.0,
            -0.3,
            f"dotted: the paper's Figure 4 ({paper[0].hardware}, real task)",
            transform=right.transAxes,
            fontsize=7,
            ha="right",
            color="#495057",
        )
    return FigurePNG(
        "latency",
        "Latency breakdown",
        _png(fig),
        "stacked bars of episode time by part and box plots of per-call policy latency",
        fig,
    )
