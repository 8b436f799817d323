"""The report as markdown (GitHub pipe tables), figures linked from figures/."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.format import CellText, generated_by, oracle_sentence, partial_sentence, untrained_sentence, video_href, when
from harness.report.model import Report
from harness.report.privacy import scrub
from harness.report.tables import (
    Table,
    comparison_tables,
    latency_table,
    main_table,
    manifest_table,
    matched_table,
    task_table,
)


def _cell(value) -> str:
    text = value.plain() if isinstance(value, CellText) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def table_md(table: Table, *, bold_runs: bool = True, titled: bool = True) -> str:
    """`titled=False`: the table sits under a heading that says its title already."""
    lines = [f"**{table.title}**", ""] if titled else []
    lines += ["| " + " | ".join(table.header) + " |", "|" + "---|" * len(table.header)]
    for row in table.rows:
        cells = [_cell(c) for c in row.cells]
        if bold_runs and row.kind == "run" and cells:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"- {n}" for n in table.notes)
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    out = [f"# {report.title}", "", generated_by(report), ""]
    for run in report.untrained:
        out += [f"> **Untrained weights.** {untrained_sentence(run)}", ""]
    for run in report.oracles:
        out += [f"> **Oracle.** {oracle_sentence(run)}", ""]
    for run in report.partial:
        out += [f"> **Partial run.** {partial_sentence(run)}", ""]
    for section in report.sections:
        out += [f"## {section.layout.title}", "", table_md(main_table(section, report.confidence)), ""]
        matched = matched_table(section, report.alpha)
        if matched is not None:
            out += [table_md(matched, bold_runs=False), ""]
        for table in comparison_tables(section, report.alpha):
            out += [f"### Comparison: {table.title}", "", table_md(table, bold_runs=False, titled=False), ""]
        out += ["### Per task", "", table_md(task_table(section, report.confidence), bold_runs=False), ""]
        for fig in section.figures:
            out += [f"![{fig.alt}](figures/{fig.name}.png)", ""]
    out += ["## Latency", "", table_md(latency_table(report)), ""]
    for fig in report.figures:
        out += [f"![{fig.alt}](figures/{fig.name}.png)", ""]
    if report.videos:
        out += ["## Videos", "", "Frames the policy read, one file per episode.", ""]
        out += [
            (f"- [{v.episode_id}]({video_href(v.link)})" if v.available else f"- {v.episode_id} (file missing)")
            + f" ({'success' if v.success else 'failure'}, {v.steps} steps, run {v.run.name})"
            for v in report.videos
        ]
        out.append("")
    out += ["## Run manifests", ""]
    for run in report.runs:
        out += [table_md(manifest_table(run, include_paths=report.include_paths), bold_runs=False), ""]
    out += ["## Presets", "", "Each preset's content once, with the runs that used it.", ""]
    for name, digest, content, runs in report.distinct_presets():
        content = content if report.include_paths else scrub(content)
        out += [
            f"<details><summary>Preset {name} #{digest} (runs: {', '.join(r.name for r in runs)})</summary>",
            "",
            "```json",
            json.dumps(content, indent=2, sort_keys=True),
            "```",
            "",
            "</details>",
            "",
        ]
    sources = sorted(
        {
            (b.source.id, b.source.title, b.source.citation, b.source.url, b.source.path)
            for b in report.baselines.results
        }
    )
    if sources:
        out += ["## Baseline sources", ""]
        out += [f"- {title} ({citation}) {url} - file {path if report.include_paths else Path(path).name}"
                for _, title, citation, url, path in sources]
        out.append("")
    return "\n".join(out)
