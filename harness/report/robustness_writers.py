"""The robustness report as files: robustness.md, robustness.html (self-contained, the figure embedded),
robustness.json and figures/robustness.png. Writers only format what harness/report/robustness.py
computed."""

from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from harness.api.types import jsonable
from harness.report.figures import FigurePNG, _png
from harness.report.format import when
from harness.report.robustness import ORIGINAL, Cell, RobustnessReport
from harness.report.write_html import CSS, figure_html

HEADER = ("base suite", "perturbation", "suite", "success", "95% CI", "episodes", "drop (points)", "95% CI of drop",
          "test", "p", "LIBERO-PRO published")


def heatmap(report: RobustnessReport) -> FigurePNG:
    """Base suite x perturbation (the unperturbed column first): success in %, the drop under it."""
    columns = [(ORIGINAL, "Original")] + [k for k in report.kinds]
    grid = np.full((len(report.rows), len(columns)), np.nan)
    text = [["" for _ in columns] for _ in report.rows]
    for i, row in enumerate(report.rows):
        for j, (kind, _) in enumerate(columns):
            cell = row.original if kind == ORIGINAL else row.cells.get(kind)
            if cell is None:
                continue
            if cell.measured:
                grid[i, j] = 100 * cell.rate
                text[i][j] = f"{100 * cell.rate:.0f}%" + ("*" if cell.n < cell.planned else "")
                if cell.drop is not None:
                    text[i][j] += f"\n{round(-cell.drop.points):+d} pts" + (" (p)" if cell.drop.pairing == "paired" else "")
            else:
                text[i][j] = "cannot run" if cell.role.unavailable else "not run"
    fig = Figure(figsize=(2.0 + 1.25 * len(columns), 1.2 + 0.75 * max(1, len(report.rows))))
    ax = fig.add_subplot()
    ax.set_facecolor("#e9ecef")
    image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdYlGn", vmin=0, vmax=100, aspect="auto")
    for i in range(len(report.rows)):
        for j in range(len(columns)):
            if text[i][j]:
                ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8)
    ax.set_yticks(range(len(report.rows)), [f"{r.display}\n({r.base})" for r in report.rows], fontsize=8)
    ax.set_xticks(range(len(columns)), [label for _, label in columns], fontsize=8)
    ax.axvline(0.5, color="black", lw=1.5)
    fig.colorbar(image, ax=ax, label="success (%)", fraction=0.04, pad=0.03)
    ax.set_title("Success under each perturbation; change from the original in points\n"
                 "((p) paired by task and init state, * fewer episodes than planned)", fontsize=9)
    return FigurePNG("robustness", "Robustness: base suite x perturbation", _png(fig),
                     "heat map of success rate per base suite and perturbation")


def _cells(cell: Cell) -> list[str]:
    if not cell.measured:
        return ["-", "-", f"0/{cell.planned}" if cell.planned else "-", "-", "-", cell.note, "-"]
    lo, hi = cell.interval
    out = [f"{100 * cell.rate:.1f}%", f"{100 * lo:.1f}-{100 * hi:.1f}",
           f"{cell.successes}/{cell.n}" + ("" if cell.n >= cell.planned else f" of {cell.planned}")
           + (f", {cell.errors} errors" if cell.errors else "") + (f", {cell.drift} drifted" if cell.drift else "")]
    if cell.drop is None:
        return out + ["-", "-", cell.note or ("the unperturbed rate" if cell.role.kind == ORIGINAL else "-"), "-"]
    d = cell.drop
    return out + [f"{d.points:+.1f}", f"{d.interval[0]:+.1f} to {d.interval[1]:+.1f}", f"{d.pairing}: {d.test}",
                  f"{d.p_value:.3g}"]


def published_range(report: RobustnessReport, base: str, kind: str) -> str:
    """The published models' rates for this cell, as a range (their table follows)."""
    values = sorted(p.cells[(base, kind)].value for p in report.published if (base, kind) in p.cells)
    if not values:
        return "-"
    span = f"{100 * values[0]:.0f}%" if values[0] == values[-1] else f"{100 * values[0]:.0f}-{100 * values[-1]:.0f}%"
    return f"{span} ({len(values)} model{'s' if len(values) > 1 else ''})"


def table_rows(report: RobustnessReport) -> list[list[str]]:
    rows = []
    for row in report.rows:
        cells = ([row.original] if row.original else []) + list(row.cells.values())
        for cell in cells:
            rows.append([f"{row.display} ({row.base})", cell.role.label, cell.role.name, *_cells(cell),
                         published_range(report, row.base, cell.role.kind)])
    return rows


def source_tags(report: RobustnessReport) -> dict[str, str]:
    """A short tag per published source (a, b, ...), for cells that must stay narrow."""
    return {src.id: chr(ord("a") + i) for i, src in enumerate(report.sources)}


def published_tables(report: RobustnessReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """Per base suite of the report: (base, header, rows), one row per published method."""
    tags = source_tags(report)
    columns = [(ORIGINAL, "Original"), *report.kinds]
    out = []
    for row in report.rows:
        body = []
        for p in report.published:
            cells = [p.cells.get((row.base, kind)) for kind, _ in columns]
            if any(cells):
                body.append([p.method] + [f"{100 * c.value:.0f}% ({tags.get(c.source, c.source)})" if c else "-"
                                          for c in cells])
        if body:
            out.append((row.base, ["method", *(label for _, label in columns)], body))
    return out


def source_lines(report: RobustnessReport) -> list[str]:
    tags = source_tags(report)
    return ([f"({tags[s.id]}) {s.id}: {s.title}; {s.where}; {s.url}" for s in report.sources]
            + [f"{p.method}: {p.protocol}" + (f" ({p.note})" if p.note else "") for p in report.published])


def _run_lines(report: RobustnessReport) -> list[str]:
    out = []
    for run in report.runs:
        m = run.manifest
        stack = ", ".join(f"{k} {v}" for k, v in m.versions.items())
        out.append(f"run {m.run_id}: policy {m.policy_name} (checkpoint {m.checkpoint_digest}), preset {m.preset_name} "
                   f"#{m.preset_hash}; {stack}")
    return out


def _drift_lines(report: RobustnessReport) -> list[str]:
    covered, uncovered = report.drift_coverage()
    if not report.drift_known:
        return [("This install has no golden-state drift check: no suite's starting states are checked against a "
                "reference stack.")]
    lines = [f"The golden-state drift check covers: {', '.join(covered) or 'none of these suites'}."]
    if uncovered:
        lines.append(f"It does not cover (no golden states recorded for them): {', '.join(uncovered)}. Their episodes "
                     "start unchecked, so a simulator change there is not flagged.")
    drifted = [f"{c.role.name} ({c.drift})" for c in report.cells if c.drift]
    if drifted:
        lines.append(f"Episodes that started off the golden state: {', '.join(drifted)}.")
    return lines


def render_markdown(report: RobustnessReport) -> str:
    out = ["# Robustness: LIBERO-PRO perturbations", "", f"Generated {when(report.generated_at)} by wam-eval.", ""]
    out += [f"- {line}" for line in _run_lines(report)] + [""]
    out += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table_rows(report)]
    out += ["", ("Drop = unperturbed minus perturbed success, in points (positive: worse under the perturbation). "
            "Paired cells: exact McNemar test and Newcombe's paired interval on episodes matched by task and "
            "init-state index; unpaired cells: Fisher's exact test and Newcombe's interval for independent samples."), ""]
    out += [f"- {n}" for n in report.notes]
    out += ["", "![robustness](figures/robustness.png)", "", "## Drift check coverage", ""]
    out += [f"- {line}" for line in _drift_lines(report)]
    tables = published_tables(report)
    if tables:
        out += ["", "## LIBERO-PRO's published rows", ""]
        for base, header, body in tables:
            out += [f"{base}:", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            out += ["| " + " | ".join(r) + " |" for r in body] + [""]
        out += [f"- {line}" for line in source_lines(report)]
    return "\n".join(out) + "\n"


def _table_html(name: str, header: list[str] | tuple[str, ...], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{escape(name)}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def render_html(report: RobustnessReport, figure: FigurePNG) -> str:
    out = ["<h1>Robustness: LIBERO-PRO perturbations</h1>",
           f'<p class="meta">Generated {escape(when(report.generated_at))} by wam-eval.</p>',
           "<ul class=\"meta\">" + "".join(f"<li>{escape(line)}</li>" for line in _run_lines(report)) + "</ul>",
           _table_html("robustness", HEADER, table_rows(report)),
           '<ul class="notes"><li>Drop = unperturbed minus perturbed success, in points (positive: worse under the '
           "perturbation). Paired: exact McNemar test, Newcombe's paired interval, episodes matched by task and "
           "init-state index. Unpaired: Fisher's exact test, Newcombe's interval for independent samples.</li>"
           + "".join(f"<li>{escape(n)}</li>" for n in report.notes) + "</ul>",
           figure_html(figure),
           "<h2>Drift check coverage</h2><ul>" + "".join(f"<li>{escape(x)}</li>" for x in _drift_lines(report)) + "</ul>"]
    tables = published_tables(report)
    if tables:
        out.append("<h2>LIBERO-PRO's published rows</h2>")
        out.extend(f"<h3>{escape(base)}</h3>" + _table_html(f"published-{base}", header, body)
                   for base, header, body in tables)
        out.append('<ul class="notes">' + "".join(f"<li>{escape(line)}</li>" for line in source_lines(report)) + "</ul>")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Robustness report</title>'
            f"<style>{CSS}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")


def to_json(report: RobustnessReport) -> dict:
    covered, uncovered = report.drift_coverage()
    return {
        "generated_at": report.generated_at,
        "confidence": report.confidence,
        "runs": [jsonable(r.manifest) for r in report.runs],
        "kinds": [list(k) for k in report.kinds],
        "rows": [{"base": row.base, "display": row.display,
                  "original": _cell_json(row.original) if row.original else None,
                  "cells": {kind: _cell_json(c) for kind, c in row.cells.items()}} for row in report.rows],
        "drift": {"available": report.drift_known, "covered": covered, "not_covered": uncovered},
        "published": [{"method": p.method, "protocol": p.protocol, "note": p.note,
                       "cells": [{"base": b, "kind": k, "value": c.value, "source": c.source}
                                 for (b, k), c in p.cells.items()]} for p in report.published],
        "sources": [jsonable(s) for s in report.sources],
        "notes": list(report.notes),
    }


def _cell_json(cell: Cell) -> dict:
    return {"suite": cell.role.name, "kind": cell.role.kind, "successes": cell.successes, "n": cell.n,
            "planned": cell.planned, "errors": cell.errors, "drift": cell.drift, "rate": cell.rate,
            "interval": list(cell.interval), "note": cell.note, "unavailable": cell.role.unavailable,
            "drop": jsonable(cell.drop) if cell.drop else None}


@dataclass(frozen=True)
class RobustnessFiles:
    folder: Path
    markdown: Path
    html: Path
    json: Path
    figure: Path


def write_robustness(report: RobustnessReport, folder: Path) -> RobustnessFiles:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "figures").mkdir(exist_ok=True)
    figure = heatmap(report)
    png = folder / "figures" / "robustness.png"
    png.write_bytes(figure.png)
    md = folder / "robustness.md"
    md.write_text(render_markdown(report))
    html = folder / "robustness.html"
    html.write_text(render_html(report, figure))
    js = folder / "robustness.json"
    js.write_text(json.dumps(to_json(report), indent=2, sort_keys=True))
    return RobustnessFiles(folder, md, html, js, png)
