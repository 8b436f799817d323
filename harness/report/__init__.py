"""Reports: the paper's tables with our runs beside the published rows, per-task results, paired
comparisons, figures and the run manifests, as markdown, LaTeX and one self-contained HTML file.

Data flow: store -> RunData (aggregate) -> Report (model: tables' numbers, comparisons, figures)
-> writers (write_markdown, write_latex, write_html), which only format.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.report.aggregate import RunData
from harness.report.model import Report
from harness.report.write_html import render_html
from harness.report.write_latex import LatexOptions, render_latex
from harness.report.write_markdown import render_markdown
from harness.types import jsonable


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    markdown: Path
    latex: Path
    html: Path
    manifest: Path
    figures: tuple[Path, ...]


def default_out_dir(runs: Sequence[RunData], root: Path = Path("reports")) -> Path:
    name = "+".join(r.run_id for r in runs)
    return root / re.sub(r"[^A-Za-z0-9_.+-]+", "-", name)[:180]


def write_report(report: Report, folder: Path, *, latex: LatexOptions = LatexOptions()) -> ReportFiles:
    folder.mkdir(parents=True, exist_ok=True)
    fig_dir = folder / "figures"
    fig_dir.mkdir(exist_ok=True)
    figures = []
    for fig in report.all_figures():
        path = fig_dir / f"{fig.name}.png"
        path.write_bytes(fig.png)
        figures.append(path)
    markdown = folder / "report.md"
    markdown.write_text(render_markdown(report))
    latex_path = folder / "tables.tex"
    latex_path.write_text(render_latex(report, latex))
    html = folder / "report.html"
    html.write_text(render_html(report))
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps([jsonable(r.manifest) for r in report.runs], indent=2, sort_keys=True))
    return ReportFiles(folder, markdown, latex_path, html, manifest, tuple(figures))
