"""The report's tables as LaTeX (booktabs), ready to \\input into a paper: first the compact table a
paper prints (rates only, best per column in bold, rows named by the runs' labels) with its
intervals beside it (a second table, or ± half-widths by option), then the detailed tables."""

from __future__ import annotations

from dataclasses import dataclass

from harness.report.format import CellText
from harness.report.model import Report
from harness.report.tables import (
    Row,
    Table,
    compact_tables,
    comparison_tables,
    latency_table,
    main_table,
    manifest_table,
    matched_table,
    task_table,
)

_ESCAPES = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    # In the default OT1 encoding these three are other glyphs (< prints "¡", > "¿", | "—").
    "<": r"$<$",
    ">": r"$>$",
    "|": r"\textbar{}",
    "†": r"$^\dagger$",
    "‡": r"$^\ddagger$",
    "*": r"$^*$",
}


def tex_escape(text: str) -> str:
    return "".join(_ESCAPES.get(ch, ch) for ch in text)


def _cell(value) -> str:
    if not isinstance(value, CellText):
        return tex_escape(str(value))
    if value.rate == "-" and not value.interval:
        return "--" + (r" {\scriptsize " + tex_escape(value.flag) + "}" if value.flag else "")
    text = value.rate
    if value.interval:
        text += r" {\scriptsize [" + value.interval.replace("-", "--") + "]}"
    if value.n:
        text += r" {\scriptsize " + value.n.replace("n=", "$n{=}$") + "}"
    if value.flag:
        text += r" {\scriptsize\textit{" + tex_escape(value.flag) + "}}"
    return text


INTERVAL_STYLES = ("table", "pm")


@dataclass(frozen=True)
class LatexOptions:
    """intervals: "table" puts the intervals in a second table of the same layout; "pm" writes each
    rate as `rate ± half the interval's width` (Wilson intervals are not symmetric: the caption says
    so). resize: scale wide tables to the line width with \\resizebox (off: papers prefer a font size)."""

    intervals: str = "table"
    resize: bool = False


def _number(cell) -> float | None:
    try:
        return float(cell.rate) if isinstance(cell, CellText) else None
    except ValueError:
        return None


def _best(rows: list[Row], column: int) -> float | None:
    values = [v for row in rows if (v := _number(row.cells[column])) is not None]
    return max(values) if values else None


def _half_width(cell) -> str:
    """± half of a "lo-hi" interval's width, in points."""
    if not isinstance(cell, CellText) or not cell.interval:
        return ""
    lo, _, hi = cell.interval.partition("-")
    return f"{(float(hi) - float(lo)) / 2:.1f}"


def compact_tex(rates: Table, intervals: Table, options: LatexOptions) -> list[str]:
    """The paper-style table; with options.intervals == "table" also its intervals table."""
    pm = options.intervals == "pm"
    columns = len(rates.header)
    best = {j: _best(rates.rows, j) for j in range(1, columns)}
    body = []
    previous = None
    for row, spread in zip(rates.rows, intervals.rows):
        if previous == "baseline" and row.kind == "run":
            body.append(r"\midrule")
        cells = [tex_escape(str(row.cells[0]))]
        for j in range(1, columns):
            value, text = _number(row.cells[j]), row.cells[j].rate
            text = "--" if value is None else text
            if value is not None and value == best[j]:
                text = r"\textbf{" + text + "}"
            if pm and value is not None and _half_width(spread.cells[j]):
                text += r"\,{\scriptsize$\pm$" + _half_width(spread.cells[j]) + "}"
            cells.append(text)
        body.append(" & ".join(cells) + r" \\")
        previous = row.kind
    notes = [tex_escape(n) for n in rates.notes]
    if pm:
        notes.append("$\\pm$: half the width of the 95\\% Wilson interval (the interval itself is not symmetric; "
                     "the detailed table gives its ends).")
    out = [_wrap_tabular(rates, "l" + "c" * (columns - 1), body, options, notes=notes)]
    if not pm:
        spread_body = []
        previous = None
        for row in intervals.rows:
            if previous == "baseline" and row.kind == "run":
                spread_body.append(r"\midrule")
            cells = [tex_escape(str(row.cells[0]))]
            for cell in row.cells[1:]:
                if isinstance(cell, CellText) and cell.interval:
                    cells.append(cell.interval.replace("-", "--") + r" {\scriptsize " + cell.n.replace("n=", "$n{=}$")
                                 + "}")
                else:
                    cells.append("--")
            spread_body.append(" & ".join(cells) + r" \\")
            previous = row.kind
        out.append(_wrap_tabular(intervals, "l" + "c" * (columns - 1), spread_body, options,
                                 notes=[tex_escape(n) for n in intervals.notes], size=r"\footnotesize",
                                 colsep="3pt"))
    return out


def _wrap_tabular(table: Table, spec: str, body: list[str], options: LatexOptions, *, notes: list[str],
                  size: str = r"\small", colsep: str | None = None) -> str:
    """A booktabs table around body rows; notes are LaTeX already."""
    resize = options.resize
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        size,
        *([rf"\setlength{{\tabcolsep}}{{{colsep}}}"] if colsep else []),
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{table.name}}}",
        *([r"\resizebox{\linewidth}{!}{%"] if resize else []),
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
        *body,
        r"\bottomrule",
        r"\end{tabular}" + ("}" if resize else ""),
    ]
    if notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def table_tex(table: Table, *, wrap: bool = False, options: LatexOptions = LatexOptions()) -> str:
    """`wrap`: a field/value table whose values are long text (the manifest). Its columns break lines
    at the page width instead of the table being scaled down until the text is unreadable. Other
    tables are scaled to the line width only when options.resize asks for it."""
    if wrap:
        spec = r"p{0.22\linewidth}p{0.74\linewidth}"
        open_box, close_box = [], ""
    else:
        spec = "l" * 2 + "c" * (len(table.header) - 2)
        open_box, close_box = ([r"\resizebox{\linewidth}{!}{%"], "}") if options.resize else ([], "")
    lines = [
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\label{{tab:{table.name}}}",
        *open_box,
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in table.header) + r" \\",
        r"\midrule",
    ]
    previous = None
    for row in table.rows:
        if previous == "baseline" and row.kind == "run":
            lines.append(r"\midrule")
        cells = [_cell(c) for c in row.cells]
        if row.kind == "run" and table.name.endswith("-main"):
            cells[0] = r"\textbf{" + cells[0] + "}"
        lines.append(" & ".join(cells) + r" \\")
        previous = row.kind
    lines += [r"\bottomrule", r"\end{tabular}" + close_box]
    if table.notes:
        lines.append(r"\par\smallskip{\footnotesize " + " ".join(tex_escape(n) for n in table.notes) + "}")
    lines.append(r"\end{table}")
    return "\n".join(lines)


def render_latex(report: Report, options: LatexOptions = LatexOptions()) -> str:
    needs = "\\usepackage{booktabs}" + (" and \\usepackage{graphicx}" if options.resize else "")
    parts = [f"% wam-eval report tables; needs {needs}",
             "% The compact table(s) a paper prints come first; the detailed tables follow."]
    for section in report.sections:
        parts.extend(compact_tex(*compact_tables(section, report.confidence), options))
    parts.append("% ---- detailed tables ----")
    for section in report.sections:
        parts.append(table_tex(main_table(section, report.confidence), options=options))
        matched = matched_table(section, report.alpha)
        if matched is not None:
            parts.append(table_tex(matched, options=options))
        parts.extend(table_tex(t, options=options) for t in comparison_tables(section, report.alpha))
        parts.append(table_tex(task_table(section, report.confidence), options=options))
    parts.append(table_tex(latency_table(report), options=options))
    parts.extend(table_tex(manifest_table(run, include_paths=report.include_paths), wrap=True) for run in report.runs)
    return "\n\n".join(parts) + "\n"
