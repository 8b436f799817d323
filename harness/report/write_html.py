"""The report as one self-contained HTML file: inline CSS, figures embedded as base64 PNG, no
script and nothing fetched; only the episode videos are linked (relative to the report folder)."""

from __future__ import annotations

import base64
import json
from html import escape
from pathlib import Path

from harness.report.figures import FigurePNG
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

CSS = """
body { font: 14px/1.45 -apple-system, 'Segoe UI', 'DejaVu Sans', Arial, sans-serif; margin: 24px auto;
       max-width: 1320px; padding: 0 18px; color: #212529; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { margin-top: 34px; border-bottom: 1px solid #dee2e6; }
table { border-collapse: collapse; margin: 8px 0; font-size: 13px; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 4px 9px; border-bottom: 1px solid #e9ecef; vertical-align: top; }
thead th { border-top: 2px solid #212529; border-bottom: 1px solid #212529; text-align: center; }
tbody tr:last-child td { border-bottom: 2px solid #212529; }
tr.run td { background: #edf2ff; } tr.run td:first-child { font-weight: 600; }
td:first-child { min-width: 170px; overflow-wrap: anywhere; }
tr.run + tr.baseline td, tr.baseline + tr.run td { border-top: 1px solid #212529; }
td.num { text-align: center; white-space: nowrap; }
.rate { font-weight: 600; } .ci, .n { color: #495057; font-size: 11px; margin-left: 4px; }
.flag { display: inline-block; margin-left: 4px; padding: 0 4px; border-radius: 3px; font-size: 11px;
        background: #fff3bf; color: #7c5800; border: 1px solid #f08c00; }
.notes { font-size: 12px; color: #495057; margin: 2px 0 14px 0; padding-left: 18px; }
.banner { padding: 10px 14px; margin: 10px 0; border-radius: 4px; font-weight: 600; }
.banner.untrained { background: #ffe3e3; border: 1px solid #e03131; color: #871616; }
.banner.partial { background: #fff3bf; border: 1px solid #f08c00; color: #7c5800; }
figure { margin: 14px 0; } figure img { max-width: 100%; border: 1px solid #e9ecef; }
figcaption { font-size: 12px; color: #495057; }
pre { background: #f8f9fa; padding: 8px; overflow-x: auto; font-size: 12px; }
.meta { color: #495057; font-size: 12px; }
"""


def _cell_html(value) -> str:
    if not isinstance(value, CellText):
        return escape(str(value))
    parts = [f'<span class="rate">{escape(value.rate)}</span>']
    if value.interval:
        parts.append(f'<span class="ci">[{escape(value.interval)}]</span>')
    if value.n:
        parts.append(f'<span class="n">{escape(value.n)}</span>')
    if value.flag:
        parts.append(f'<span class="flag">{escape(value.flag)}</span>')
    return "".join(parts)


def table_html(table: Table, *, caption: bool = True) -> str:
    """`caption=False`: the table sits under a heading that says its title already."""
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = []
    for row in table.rows:
        tds = "".join(
            f'<td class="num">{_cell_html(c)}</td>' if isinstance(c, CellText) else f"<td>{_cell_html(c)}</td>"
            for c in row.cells
        )
        body.append(f'<tr class="{row.kind}">{tds}</tr>')
    notes = "".join(f"<li>{escape(n)}</li>" for n in table.notes)
    return (
        f'<table id="{escape(table.name)}">'
        + (f"<caption>{escape(table.title)}</caption>" if caption else "")
        + f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
    )


def figure_html(fig: FigurePNG) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (
        f'<figure id="fig-{escape(fig.name)}"><img src="data:image/png;base64,{data}" alt="{escape(fig.alt)}">'
        f"<figcaption>{escape(fig.title)}</figcaption></figure>"
    )


def render_html(report: Report) -> str:
    out = [
        f"<h1>{escape(report.title)}</h1>",
        f'<p class="meta">{escape(generated_by(report))}</p>',
    ]
    for run in report.untrained:
        out.append(f'<div class="banner untrained">{escape(untrained_sentence(run))}</div>')
    for run in report.oracles:
        out.append(f'<div class="banner untrained">{escape(oracle_sentence(run))}</div>')
    for run in report.partial:
        out.append(f'<div class="banner partial">{escape(partial_sentence(run))}</div>')
    for section in report.sections:
        out.append(f"<h2>{escape(section.layout.title)}</h2>")
        out.append(table_html(main_table(section, report.confidence)))
        matched = matched_table(section, report.alpha)
        if matched is not None:
            out.append(table_html(matched))
        for table in comparison_tables(section, report.alpha):
            out.append(f"<h3>Comparison: {escape(table.title)}</h3>" + table_html(table, caption=False))
        out.extend(figure_html(f) for f in section.figures)
        out.append("<h3>Per task</h3>" + table_html(task_table(section, report.confidence)))
    out.append("<h2>Latency</h2>" + table_html(latency_table(report)))
    out.extend(figure_html(f) for f in report.figures)
    if report.videos:
        items = "".join(
            (f'<li><a href="{escape(video_href(v.link))}">{escape(v.episode_id)}</a> ' if v.available
             else f"<li>{escape(v.episode_id)} (file missing) ")
            + f"({'success' if v.success else 'failure'}, {v.steps} steps, run {escape(v.run.name)})</li>"
            for v in report.videos
        )
        out.append(f'<h2>Videos</h2><p>Frames the policy read, one file per episode.</p><ul id="videos">{items}</ul>')
    out.append("<h2>Run manifests</h2>")
    for run in report.runs:
        out.append(table_html(manifest_table(run, include_paths=report.include_paths)))
    out.append("<h2>Presets</h2><p>Each preset's content once, with the runs that used it.</p>")
    for name, digest, content, runs in report.distinct_presets():
        content = content if report.include_paths else scrub(content)
        out.append(
            f'<details class="preset"><summary>Preset {escape(name)} #{escape(digest)} '
            f"(runs: {escape(', '.join(r.name for r in runs))})</summary>"
            f"<pre>{escape(json.dumps(content, indent=2, sort_keys=True))}</pre></details>"
        )
    sources = sorted(
        {(b.source.title, b.source.citation, b.source.url,
          b.source.path if report.include_paths else Path(b.source.path).name) for b in report.baselines.results}
    )
    if sources:
        items = "".join(
            f"<li>{escape(t)} ({escape(c)}) {escape(u)} <span class='meta'>{escape(p)}</span></li>"
            for t, c, u, p in sources
        )
        out.append(f"<h2>Baseline sources</h2><ul>{items}</ul>")
    body = "\n".join(out)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(report.title)}</title>'
        f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n"
    )
