"""Reports: the paper's tables with our runs beside the published rows, per-task results, paired
comparisons, figures and the run manifests, as markdown, LaTeX and one self-contained HTML file.

Data flow: store -> RunData (aggregate) -> Report (model: tables' numbers, comparisons, figures)
-> writers (write_markdown, write_latex, write_html), which only format.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from harness.api.types import jsonable
from harness.report.aggregate import RunData
from harness.report.model import Report
from harness.report.privacy import scrub
from harness.report.write_html import render_html
from harness.report.write_latex import LatexOptions, render_latex
from harness.report.write_markdown import render_markdown


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    markdown: Path
    latex: Path
    html: Path
    manifest: Path
    figures: tuple[Path, ...]


FOLDER_NAME_MAX = 120  # characters: far below any file system's 255 bytes, readable in a listing


def default_out_dir(runs: Sequence[RunData], root: Path = Path("reports")) -> Path:
    """reports/<run ids joined by +>; a name too long to keep whole is cut and given a hash of the
    full name, so that two long sets of runs never share (and overwrite) one folder."""
    full = "+".join(r.run_id for r in runs)
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "-", full)
    if len(name) > FOLDER_NAME_MAX or name != full:
        digest = hashlib.sha256(full.encode()).hexdigest()[:10]
        name = f"{name[:FOLDER_NAME_MAX - len(digest) - 1]}-{digest}"
    return root / name


def _place_videos(report: Report, folder: Path) -> None:
    """Hard-link each recorded video into the report folder (a copy where a link cannot be made: another
    file system), at the relative link the report gives it."""
    for video in report.videos:
        if not video.available:
            continue
        dest = folder / video.link
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            if os.path.samefile(dest, video.path):
                continue
            dest.unlink()  # a video of an earlier report under the same name: this run's replaces it
        try:
            os.link(video.path, dest)
        except OSError:
            shutil.copy2(video.path, dest)


def manifest_record(report: Report) -> dict:
    """manifest.json: which wam-eval wrote the report, each distinct preset once (by content hash),
    and each run's record pointing at its preset; host names and paths only with include_paths."""
    presets: dict[str, dict] = {}
    runs = []
    for run in report.runs:
        record = jsonable(run.manifest)
        presets.setdefault(record["preset_hash"], record.pop("preset"))
        record.pop("preset", None)
        record["label"] = run.label
        if not report.include_paths:
            record.pop("host", None)
        runs.append(record)
    body = {
        "wam_eval": dict(report.generator),
        "generated_at": report.generated_at,
        "paths_included": report.include_paths,
        "presets": presets,
        "runs": runs,
    }
    return body if report.include_paths else scrub(body)


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
    _place_videos(report, folder)
    manifest = folder / "manifest.json"
    manifest.write_text(json.dumps(manifest_record(report), indent=2, sort_keys=True))
    return ReportFiles(folder, markdown, latex_path, html, manifest, tuple(figures))
