"""Rows named as a paper names them (`run --label`, `report --label RUN=NAME`) and an explicit
reference run (`--baseline`, default the first run given, said in the heading), in the markdown,
LaTeX and HTML a report writes; each comparison heading said once."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

from harness.cli import main
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


def _store(tmp_path: Path) -> tuple[Path, str, str]:
    store = tmp_path / "s.sqlite"
    keys = libero_keys(tasks=1, episodes=6)
    floor = write_run(store, make_manifest(libero_preset(), policy="noop"), keys, lambda k: result(k, False))
    ours = write_run(store, make_manifest(libero_preset(), policy="fastwam"), keys, lambda k: result(k, k.episode < 5))
    with ResultStore(store) as s:
        s.set_label(ours, "Fast-WAM (ours)")  # what `run --label` stores
    return store, floor, ours


def _report(tmp_path: Path, *args: str) -> dict[str, str]:
    out = tmp_path / "rep"
    assert main(["report", *args, "--out", str(out)]) == 0
    return {name: (out / name).read_text() for name in ("report.md", "tables.tex", "report.html")}


def test_labels_name_the_rows_and_the_baseline_is_the_reference_in_every_file(tmp_path):
    store, floor, ours = _store(tmp_path)
    files = _report(tmp_path, ours, floor, "--store", str(store), "--label", f"{floor[:6]}=No-op floor",
                    "--baseline", floor)
    md, tex, html = files["report.md"], files["tables.tex"], unescape(files["report.html"])
    for text in (md, tex, html):
        assert "Fast-WAM (ours)" in text and "No-op floor" in text
    # B - A with A = the no-op floor: Fast-WAM is better, and the heading names the reference.
    heading = "Fast-WAM (ours) vs No-op floor (baseline No-op floor: chosen with --baseline)"
    assert md.count(heading) == 1 and html.count(heading) == 1
    assert "### Comparison: " + heading in md
    assert re.search(r"\| Average \| 0\.0 \(n=24\) \| 83\.3 \(n=24\) \| \+83\.3", md)
    assert "better" in md.split(heading)[1].split("###")[0]
    caption = r"\caption{Fast-WAM (ours) vs No-op floor (baseline No-op floor: chosen with --baseline)}"
    assert tex.count(caption) == 1
    # The rows keep the order given: ours first, the floor after it.
    main_md = md.split("**Success rate (%)")[1].split("\n\n")[1]
    assert main_md.index("Fast-WAM (ours)") < main_md.index("No-op floor")


def test_without_baseline_the_first_run_given_is_the_reference_and_the_heading_says_so(tmp_path):
    store, floor, ours = _store(tmp_path)
    md = _report(tmp_path, floor, ours, "--store", str(store))["report.md"]
    assert md.count("### Comparison") == 1
    assert f"### Comparison: Fast-WAM (ours) vs {floor} (baseline {floor}: the first run given)" in md
    # The comparison's heading is not repeated as a bold title under it.
    assert "**Fast-WAM (ours) vs" not in md


def test_a_label_or_baseline_naming_no_run_given_is_one_line_and_exit_2(tmp_path, capsys):
    store, floor, ours = _store(tmp_path)
    assert main(["report", ours, "--store", str(store), "--baseline", floor, "--out", str(tmp_path / "r")]) == 2
    assert "baseline" in capsys.readouterr().err
    assert main(["report", ours, "--store", str(store), "--label", "nolabel", "--out", str(tmp_path / "r")]) == 2
    assert "is not RUN=NAME" in capsys.readouterr().err


ROOT = Path(__file__).resolve().parent.parent


def test_reports_folder_ships_with_a_readme_naming_what_lands_there():
    readme = (ROOT / "reports" / "README.md").read_text()
    for name in ("report.html", "report.md", "tables.tex", "figures/", "videos/", "manifest.json", "--out"):
        assert f"`{name}" in readme, name
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert "reports/*/" in ignored and "!reports/README.md" in ignored


def test_the_demo_uses_the_default_store_and_compares_fast_wam_against_the_floor():
    import configparser
    import shlex

    ini = configparser.ConfigParser(interpolation=None)
    ini.read(ROOT / "tox.ini")
    commands = [shlex.split(line) for line in ini["testenv:demo"]["commands"].strip().splitlines()]
    assert not any("--store" in c for c in commands), "follow-up commands would need the demo's --store"
    runs = [c for c in commands if c[1] == "run"]
    assert [c[c.index("--label") + 1] for c in runs] == ["Fast-WAM (tiny, untrained)", "No-op floor"]
    (compare,) = [c for c in commands if c[1] == "compare"]
    assert compare[2].startswith("noop-") and compare[3].startswith("fastwam-")  # A = the floor, B = Fast-WAM
    (report,) = [c for c in commands if c[1] == "report"]
    assert report[report.index("--baseline") + 1].startswith("noop-")
    assert ["wam-eval", "runs"] in commands
    doc = (ROOT / "docs" / "reports.md").read_text()
    section = doc.split("## The demo")[1]
    for c in commands:  # each step is said, with what distinguishes it
        assert f"wam-eval {c[1]}" in section, c
    for c in runs:
        assert f'--label "{c[c.index("--label") + 1]}"' in section
    assert " ".join(compare) in section and " ".join(report) in section
