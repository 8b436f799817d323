"""`wam-eval report` end to end: a real LIBERO run through the CLI (recording its failures), its
HTML report opened in headless Chromium (screenshot saved, table text read back from the page),
the video link followed; partial and untrained runs said plainly; a missing run refused in one line.

Runtime: about 40 s (the LIBERO run ~20 s, two report builds, two Chromium starts)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from harness.cli import main
from harness.report.aggregate import load_run, open_store
from harness.stats import wilson_interval
from tests.report_data import (
    libero_keys,
    libero_preset,
    make_manifest,
    result,
    robotwin_keys,
    robotwin_preset,
    short_libero_preset_file,
    write_run,
)

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("Chromium is not installed: run scripts/ensure-system-packages.sh (apt-get install chromium)")


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def wam_eval(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=600)


class TableText(HTMLParser):
    """The text of every table cell, by table id: {id: [[cell, ...], ...]}."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = dict(attrs).get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data + " ")


def tables_of(html: str) -> dict[str, list[list[str]]]:
    parser = TableText()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    """Two noop episodes of one LIBERO task under a CI-sized preset, through `wam-eval run`."""
    root = tmp_path_factory.mktemp("libero-run")
    store = root / "results" / "wam-eval.sqlite"
    preset = short_libero_preset_file(root, max_steps=20)
    ran = wam_eval(
        "run",
        "--benchmark",
        "libero",
        "--suite",
        "libero_object",
        "--tasks",
        "0",
        "--episodes",
        "2",
        "--policy",
        "noop",
        "--preset",
        str(preset),
        "--store",
        str(store),
        "--record",
        "failures",
        "-q",
    )
    assert ran.returncode == 0, ran.stderr
    out = root / "report"
    made = wam_eval("report", "latest", "--store", str(store), "--out", str(out))
    assert made.returncode == 0, made.stderr
    html = out / "report.html"
    assert made.stdout.strip().splitlines()[-1] == str(html.resolve())
    with open_store(store) as s:
        run = load_run(s, s.runs()[0].run_id)
    return root, run, out


def test_html_report_in_chromium_shows_the_tables(real_run):
    root, run, out = real_run
    dom = browse(out / "report.html", root / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    tables = tables_of(dom.stdout)
    main_rows = tables["libero-main"]
    assert main_rows[0] == ["Method", "Emb. pretraining", "Spatial", "Object", "Goal", "Long", "Average", "Protocol"]
    ours = [r for r in main_rows if r[0].startswith(run.run_id)]
    assert len(ours) == 1
    k = sum(1 for r in run.rows if r["success"])
    lo, hi = wilson_interval(k, 2)
    expected = f"{100 * k / 2:.1f} [{100 * lo:.1f}-{100 * hi:.1f}] n=2"
    assert ours[0][3] == expected  # Object
    assert ours[0][2] == "-"  # Spatial: not run
    assert ours[0][6].startswith(expected) and "over 1 of 4 suites" in ours[0][6]
    assert ours[0][7] == f"ci-libero-short #{run.manifest.preset_hash}"
    fastwam = [r for r in main_rows if r[0].startswith("Fast-WAM†")][0]
    assert fastwam[3].startswith("100.0") and fastwam[7] == "fastwam-libero"
    task_rows = tables["libero-tasks"]
    assert task_rows[1][1] == run.rows[0]["task"]
    manifest = dict((r[0], r[1]) for r in tables[f"manifest-{run.run_id}"] if len(r) == 2)
    assert manifest["Identity"] == run.manifest.identity
    assert "NOT an official protocol" in manifest["Preset"]
    assert "2 stored of 2 planned" in manifest["Episodes"]


def test_html_report_screenshot(real_run):
    from PIL import Image

    root, _, out = real_run
    shot = root / "report-screenshot.png"
    done = browse(out / "report.html", root / "profile-shot", "--window-size=1400,2400", f"--screenshot={shot}")
    assert done.returncode == 0, done.stderr[-2000:]
    with Image.open(shot) as image:
        assert image.size == (1400, 2400)
        pixels = np.asarray(image.convert("L"), dtype=float)
    # Text, tables and figures: far from a blank page.
    assert pixels.std() > 20 and (pixels < 100).mean() > 0.01
    print(f"screenshot saved: {shot}")


def test_report_links_the_recorded_videos(real_run):
    import av

    _, run, out = real_run
    html = (out / "report.html").read_text()
    links = re.findall(r'<a href="([^"]+\.mp4)">([^<]+)</a>', html)
    assert sorted(text for _, text in links) == sorted(r["episode_id"] for r in run.rows)  # noop fails: all kept
    by_id = {r["episode_id"]: r for r in run.rows}
    for href, episode_id in links:
        video = (out / href).resolve()
        assert out.resolve() in video.parents, "the report folder holds its videos"
        assert video.read_bytes() == Path(by_id[episode_id]["extra"]["video"]).read_bytes()
        with av.open(str(video)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(container.streams.video[0])]
        assert len(frames) == by_id[episode_id]["policy_calls"] == 4  # 20 steps, replanning every 5
        assert frames[0].shape == (128, 256, 3) and frames[0].std() > 10


def test_markdown_latex_and_figures_written(real_run):
    _, run, out = real_run
    md = (out / "report.md").read_text()
    assert "| Method | Emb. pretraining | Spatial | Object | Goal | Long | Average | Protocol |" in md
    assert run.run_id in md and "fastwam-libero" in md
    tex = (out / "tables.tex").read_text()
    for rule in (r"\toprule", r"\midrule", r"\bottomrule"):
        assert rule in tex
    assert r"\textbf{" + run.run_id.replace("_", r"\_") in tex
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["latency.png", "libero-length.png", "libero-suites.png", "libero-tasks.png"]
    html = (out / "report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 4
    # Self-contained: no script, no stylesheet link; the only references are the relative video links.
    assert "<script" not in html and "<link" not in html
    references = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', html)
    assert references and all(ref.endswith(".mp4") and "://" not in ref for ref in references)


def test_report_of_a_missing_run_is_one_line_and_exit_2(real_run, tmp_path):
    root, run, _ = real_run
    done = wam_eval(
        "report", "no-such-run", "--store", str(root / "results" / "wam-eval.sqlite"), "--out", str(tmp_path)
    )
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "no run 'no-such-run'" in done.stderr and run.run_id in done.stderr
    missing_store = wam_eval("report", "latest", "--store", str(tmp_path / "absent.sqlite"))
    assert missing_store.returncode == 2 and missing_store.stderr.strip().count("\n") == 0
    assert not (tmp_path / "absent.sqlite").exists()


def test_partial_and_untrained_runs_are_said_plainly(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    keys = libero_keys(["libero_object"], tasks=2, episodes=5)
    run_id = write_run(
        store,
        make_manifest(libero_preset(), trained=False),
        keys,
        lambda k: result(k, k.episode < 3) if k.episode < 4 else None,
    )
    out = tmp_path / "rep"
    assert main(["report", run_id, "--store", str(store), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "partial run" in printed and "untrained weights" in printed
    html = (out / "report.html").read_text()
    assert "is PARTIAL: 8 of 10 planned episodes are stored" in html
    assert "used UNTRAINED weights" in html
    ours = [r for r in tables_of(html)["libero-main"] if r[0].startswith(run_id)][0]
    assert "(partial)" in ours[0] and "(untrained weights)" in ours[0]
    assert ours[3].endswith("partial 8/10")
    task_cells = [r[2] for r in tables_of(html)["libero-tasks"][1:]]
    assert all(cell.endswith("partial 4/5") for cell in task_cells)
    md = (out / "report.md").read_text()
    assert "**Partial run.**" in md and "**Untrained weights.**" in md and "partial 8/10" in md


def test_report_refuses_mixed_presets_unless_allowed_and_marks_them(tmp_path):
    from envs.presets import resolve_preset

    store = tmp_path / "m.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=3)
    a = write_run(store, make_manifest(libero_preset()), keys, lambda k: result(k, True))
    b = write_run(store, make_manifest(resolve_preset("lerobot-libero")), keys, lambda k: result(k, False))
    assert main(["report", a, b, "--store", str(store), "--out", str(tmp_path / "r")]) == 2
    assert main(["report", a, b, "--store", str(store), "--out", str(tmp_path / "r"), "--allow-preset-mismatch"]) == 0
    md = (tmp_path / "r" / "report.md").read_text()
    assert "PRESET MISMATCH" in md and "openpi-libero" in md and "lerobot-libero" in md
    rows = [
        r
        for r in tables_of((tmp_path / "r" / "report.html").read_text())["libero-main"]
        if r[0].startswith(("scripted",))
    ]
    # Only the run whose preset differs from the first run's (A of the comparison) is marked.
    assert len(rows) == 2 and rows[0][0].startswith(a) and not rows[0][0].endswith("‡")
    assert rows[1][0].startswith(b) and rows[1][0].endswith("‡")


def test_robotwin_report_in_table_1_layout_with_the_matched_seed_delta(tmp_path):
    store = tmp_path / "rt.sqlite"
    tasks = ["stack_blocks_two", "blocks_ranking_rgb"]
    keys = robotwin_keys(tasks, 5)
    # Clean: every episode succeeds; randomized: only episodes 0-1 of each task. Seeds match by index.
    run_id = write_run(
        store,
        make_manifest(robotwin_preset()),
        keys,
        lambda k: result(k, k.setting == "clean" or k.episode < 2, seed=4_300_000 + k.episode),
    )
    out = tmp_path / "rep"
    assert main(["report", run_id, "--store", str(store), "--out", str(out)]) == 0
    tables = tables_of((out / "report.html").read_text())
    main_rows = tables["robotwin-main"]
    assert main_rows[0] == ["Method", "Emb. pretraining", "Clean", "Randomized", "Average", "Protocol"]
    fastwam = [r for r in main_rows if r[0].startswith("Fast-WAM†")][0]
    assert fastwam[2].startswith("91.88 [") and fastwam[3].startswith("91.78 [") and fastwam[5] == "fastwam-robotwin"
    ours = [r for r in main_rows if r[0].startswith(run_id)][0]
    lo, hi = wilson_interval(4, 10)
    assert ours[2].startswith("100.0") and ours[3] == f"40.0 [{100 * lo:.1f}-{100 * hi:.1f}] n=10"
    assert ours[4].startswith("70.0")  # (100 + 40) / 2
    matched = tables["robotwin-matched"]
    assert matched[0][3] == "Randomized - Clean [95% CI]"
    # 6 matched pairs succeed only clean: exact McNemar p = 2 / 2^6.
    assert matched[1][3].startswith("-60.0") and matched[1][4] == "exact McNemar" and matched[1][5] == "0.0312"
    assert matched[1][6].startswith("paired on 10 episodes (6 only A, 0 only B)")
    assert [r[2] for r in tables["robotwin-tasks"][1:]] == ["clean", "clean", "randomized", "randomized"]
