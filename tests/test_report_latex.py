"""tables.tex as a paper includes it: a compact booktabs table first (rates only, best per column in
bold, rows named by labels, no \\resizebox unless asked), its intervals as a second table or as ±
half-widths, the detailed tables after it; and the file compiles with pdflatex.

pdflatex comes from Debian's texlive-latex-base and texlive-latex-recommended (booktabs), which tox
installs (scripts/ensure-system-packages.sh; about 45 s). Runtime: about 25 s (3 reports, 3 pdflatex runs)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> tuple[Path, str, str]:
    path = tmp_path_factory.mktemp("latex") / "s.sqlite"
    keys = libero_keys(tasks=2, episodes=5)
    floor = write_run(path, make_manifest(libero_preset(), policy="noop"), keys, lambda k: result(k, False))
    # Ours: every Object episode succeeds (100.0 beats the paper's Object cells), the rest 60%.
    ours = write_run(path, make_manifest(libero_preset(), policy="fastwam"), keys,
                     lambda k: result(k, k.suite == "libero_object" or k.episode < 3))
    with ResultStore(path) as s:
        s.set_label(ours, "Ours_v2 & co")  # LaTeX specials in a label are escaped
    return path, floor, ours


def tables_tex(tmp_path: Path, store, *extra: str) -> str:
    path, floor, ours = store
    out = tmp_path / "rep"
    assert main(["report", floor, ours, "--store", str(path), "--label", f"{floor}=No-op", "--out", str(out),
                 *extra]) == 0
    return (out / "tables.tex").read_text()


def tables(tex: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(0)) for m in
            re.finditer(r"\\begin\{table\}.*?\\label\{tab:([^}]+)\}.*?\\end\{table\}", tex, re.S)]


def body_rows(table: str) -> dict[str, list[str]]:
    body = table.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    rows = [r.strip() for r in body.replace("\\midrule", "").split("\\\\") if r.strip()]
    return {r.split(" & ")[0]: r.split(" & ")[1:] for r in rows}


def test_the_compact_table_comes_first_with_rates_only_and_the_best_per_column_bold(tmp_path, store):
    tex = tables_tex(tmp_path, store)
    names = [name for name, _ in tables(tex)]
    assert names[:2] == ["libero-compact", "libero-intervals"]
    assert "libero-main" in names and "libero-tasks" in names, "the detailed tables stay available"
    assert "\\resizebox" not in tex and "graphicx" not in tex.splitlines()[0]
    compact = dict(tables(tex))["libero-compact"]
    assert "\\toprule" in compact and "\\bottomrule" in compact
    assert "Method & Spatial & Object & Goal & Long & Average \\\\" in compact
    rows = body_rows(compact)
    ours, floor = rows["Ours\\_v2 \\& co"], rows["No-op"]
    fastwam, joint = rows["Fast-WAM$^\\dagger$"], rows["Fast-WAM-Joint$^\\dagger$"]  # † another protocol
    assert ours[1] == fastwam[1] == "\\textbf{100.0}", "a tie for the best Object cell: both bold"
    assert floor == ["0.0"] * 5
    assert joint[0] == "\\textbf{99.6}" and fastwam[0] == "98.2" and ours[0] == "60.0"
    for column in range(5):  # exactly the maximum of each column is bold
        values = [float(re.sub(r"[^0-9.]", "", cells[column])) for cells in rows.values()
                  if re.sub(r"[^0-9.]", "", cells[column])]
        bold = [cells[column] for cells in rows.values() if cells[column].startswith("\\textbf")]
        assert bold and all(float(re.sub(r"[^0-9.]", "", b)) == max(values) for b in bold)
    assert "[" not in compact.split("\\midrule", 1)[1].split("\\bottomrule")[0], "no intervals in the rates table"
    spread = body_rows(dict(tables(tex))["libero-intervals"])
    assert spread["Ours\\_v2 \\& co"][1].startswith("72.2--100.0") and "$n{=}$10" in spread["Ours\\_v2 \\& co"][1]


def test_intervals_as_plus_minus_half_widths_and_resize_only_when_asked(tmp_path, store):
    tex = tables_tex(tmp_path, store, "--latex-intervals", "pm")
    names = [name for name, _ in tables(tex)]
    assert "libero-intervals" not in names
    ours = body_rows(dict(tables(tex))["libero-compact"])["Ours\\_v2 \\& co"]
    assert ours[1] == "\\textbf{100.0}\\,{\\scriptsize$\\pm$13.9}"  # Wilson 72.2-100.0 over 10 episodes
    assert "half the width of the 95\\% Wilson interval" in tex
    resized = tables_tex(tmp_path, store, "--latex-resize")
    assert "\\resizebox{\\linewidth}{!}{%" in resized


def pdflatex() -> str:
    found = shutil.which("pdflatex")
    if not found:
        pytest.fail("pdflatex is not installed: run scripts/ensure-system-packages.sh texlive-latex-base "
                    "texlive-latex-recommended (tox does)")
    return found


@pytest.mark.parametrize("extra", [(), ("--latex-intervals", "pm"), ("--latex-resize",)])
def test_tables_tex_compiles_with_pdflatex(tmp_path, store, extra):
    tex = tables_tex(tmp_path, store, *extra)
    doc = tmp_path / "paper.tex"
    (tmp_path / "tables.tex").write_text(tex)
    doc.write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\usepackage{graphicx}\n"
                   "\\begin{document}\n\\input{tables}\n\\end{document}\n")
    proc = subprocess.run([pdflatex(), "-interaction=nonstopmode", "-halt-on-error", doc.name], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert (tmp_path / "paper.pdf").stat().st_size > 1000
    log = (tmp_path / "paper.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log
