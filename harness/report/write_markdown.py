"""The report as markdown (GitHub pipe tables), figures linked from figures/."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

from harness.report.format import (
    CellText,
    generated_by,
    oracle_sentence,
    partial_sentence,
    untrained_sentence,
    video_href,
)
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


def text_md(value) -> str:
    """Text from the store (names, errors, notes) as markdown shows it: HTML escaped, since markdown
    renderers pass raw HTML through (a preset named `<img onerror=...>` must stay text), on one line."""
    return html.escape(str(value), quote=False).replace("\n", " ")


def _cell(value) -> str:
    text = value.plain() if isinstance(value, CellText) else str(value)
    return text_md(text).replace("|", "\\|")


def _fence(body: str) -> str:
    """A code fence longer than any run of backticks in the body, so the body cannot close it."""
    longest = max((len(m) for m in re.findall(r"`+", body)), default=0)
    return "`" * max(3, longest + 1)


def _alt(text) -> str:
    """Link or image text: HTML escaped, brackets escaped so that the text cannot end the link."""
    return text_md(text).replace("[", "\\[").replace("]", "\\]")


def table_md(table: Table, *, bold_runs: bool = True, titled: bool = True) -> str:
    """`titled=False`: the table sits under a heading that says its title already."""
    lines = [f"**{text_md(table.title)}**", ""] if titled else []
    lines += ["| " + " | ".join(_cell(h) for h in table.header) + " |", "|" + "---|" * len(table.header)]
    for row in table.rows:
        cells = [_cell(c) for c in row.cells]
        if bold_runs and row.kind == "run" and cells:
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    if table.notes:
        lines.append("")
        lines.extend(f"- {text_md(n)}" for n in table.notes)
    return "\n".join(lines)


def render_markdown(report: Report) -> str:
    out = [f"# {text_md(report.title)}", "", text_md(generated_by(report)), ""]
    for run in report.untrained:
        out += [f"> **Untrained weights.** {text_md(untrained_sentence(run))}", ""]
    for run in report.oracles:
        out += [f"> **Oracle.** {text_md(oracle_sentence(run))}", ""]
    for run in report.partial:
        out += [f"> **Partial run.** {text_md(partial_sentence(run))}", ""]
    for section in report.sections:
        out += [f"## {text_md(section.layout.title)}", "", table_md(main_table(section, report.confidence)), ""]
        matched = matched_table(section, report.alpha)
        if matched is not None:
            out += [table_md(matched, bold_runs=False), ""]
        for table in comparison_tables(section, report.alpha):
            out += [f"### Comparison: {table.title}", "", table_md(table, bold_runs=False, titled=False), ""]
        out += ["### Per task", "", table_md(task_table(section, report.confidence), bold_runs=False), ""]
        for fig in section.figures:
            out += [f"![{_alt(fig.alt)}](figures/{fig.name}.png)", ""]
    out += ["## Latency", "", table_md(latency_table(report)), ""]
    for fig in report.figures:
        out += [f"![{_alt(fig.alt)}](figures/{fig.name}.png)", ""]
    if report.videos:
        out += ["## Videos", "", "Frames the policy read, one file per episode.", ""]
        out += [
            (f"- [{_alt(v.episode_id)}]({video_href(v.link)})" if v.available
             else f"- {text_md(v.episode_id)} (file missing)")
            + f" ({'success' if v.success else 'failure'}, {v.steps} steps, run {text_md(v.run.name)})"
            for v in report.videos
        ]
        out.append("")
    out += ["## Run manifests", ""]
    for run in report.runs:
        out += [table_md(manifest_table(run, include_paths=report.include_paths), bold_runs=False), ""]
    out += ["## Presets", "", "Each preset's content once, with the runs that used it.", ""]
    for name, digest, content, runs in report.distinct_presets():
        preset_json = json.dumps(content if report.include_paths else scrub(content), indent=2, sort_keys=True)
        names = text_md(", ".join(r.name for r in runs))
        out += [
            f"<details><summary>Preset {text_md(name)} #{text_md(digest)} (runs: {names})</summary>",
            "",
            _fence(preset_json) + "json",
            preset_json,
            _fence(preset_json),
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
        out += [f"- {text_md(title)} ({text_md(citation)}) {text_md(url)} - file "
                f"{text_md(path if report.include_paths else Path(path).name)}"
                for _, title, citation, url, path in sources]
        out.append("")
    return "\n".join(out)
