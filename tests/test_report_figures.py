"""Figures a reader can read: the paper's rows in distinct colours and markers with a legend, our runs
as points with intervals (a 0% run visible), heat-map labels large and in contrast with their cell,
latency reference labels apart; and the HTML rendered by headless Chromium with every figure decoded.

Runtime: about 20 s (one report, two Chromium starts)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from matplotlib.colors import to_rgb

from harness.report.aggregate import load_run, open_store
from harness.report.baselines import baseline_dirs
from harness.report.figures import BASELINE_COLORS, RUN_COLORS
from harness.reporting import build_report, load_baselines
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run
from tests.test_report_cli import browse


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory) -> tuple[Path, object]:
    from harness.report import write_report

    root = tmp_path_factory.mktemp("figures")
    store = root / "s.sqlite"
    keys = libero_keys(tasks=3, episodes=6)
    ours = write_run(store, make_manifest(libero_preset(), policy="fastwam"), keys,
                     lambda k: result(k, (k.episode + int(k.task[-1])) % 4 != 0, steps=50 + 10 * k.episode))
    floor = write_run(store, make_manifest(libero_preset(), policy="noop"), keys, lambda k: result(k, False))
    with ResultStore(store) as s:
        s.set_label(ours, "Fast-WAM (ours)")
        s.set_label(floor, "No-op floor")
    with open_store(store) as s:
        runs = [load_run(s, ours), load_run(s, floor)]
    report = build_report(runs, load_baselines(baseline_dirs()), out_dir=root / "rep", baseline=floor)
    write_report(report, root / "rep")
    return root, report


def _pixels(png: bytes) -> np.ndarray:
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGB"), dtype=float) / 255.0


def _count(pixels: np.ndarray, color: str, tol: float = 0.06) -> int:
    return int((np.abs(pixels - np.asarray(to_rgb(color))).max(axis=2) < tol).sum())


def test_suite_chart_draws_every_paper_row_apart_and_a_zero_percent_run_visibly(report_dir):
    _, report = report_dir
    (section,) = report.sections
    suites = next(f for f in section.figures if f.name == "libero-suites")
    ax = suites.figure.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    paper = [b.label for b in section.baselines]
    assert legend == [f"{name} (paper)" for name in paper] + ["Fast-WAM (ours)", "No-op floor"]
    handles = ax.get_legend().legend_handles
    styles = {(tuple(np.round(h.get_facecolor()[0][:3], 3)), str(h.get_paths()[0].vertices.round(2).tolist()))
              for h in handles[: len(paper)]}
    assert len(styles) == len(paper), "two paper rows share colour and marker"
    colours = {tuple(np.round(h.get_facecolor()[0][:3], 3)) for h in handles[: len(paper)]}
    assert len(colours) == len(paper), "paper rows told apart by marker alone"
    pixels = _pixels(suites.png)
    for color in BASELINE_COLORS[: len(paper)]:
        assert _count(pixels, color) > 15, color
    floor_color = RUN_COLORS[1]
    assert _count(pixels, floor_color) > 300, "the 0% run is not visible"
    assert ax.get_ylim()[0] < 0, "a point at 0% would be cut in half by the axis"


def test_heat_map_labels_are_legible(report_dir):
    _, report = report_dir
    tasks = next(f for f in report.sections[0].figures if f.name == "libero-tasks")
    ax = tasks.figure.axes[0]
    assert all(t.get_fontsize() >= 8 for t in ax.get_yticklabels() + ax.get_xticklabels())
    cells = [t for t in ax.texts if t.get_text() not in ("Spatial", "Object", "Goal", "Long")]
    assert cells and all(t.get_fontsize() >= 8 for t in cells)
    # 0% cells are dark red: their numbers are white, the light middle gets black.
    zero = [t for t in cells if t.get_text() == "0"]
    assert zero and all(to_rgb(t.get_color()) == (1.0, 1.0, 1.0) for t in zero)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["Fast-WAM (ours)", "No-op floor"]


def test_latency_reference_labels_do_not_overlap(report_dir):
    _, report = report_dir
    (latency,) = report.figures
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = latency.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    right = fig.axes[1]
    labels = [t for t in right.texts if t.get_text().endswith(" ms")]
    assert [t.get_text().split(": ")[-1] for t in labels] == ["190 ms", "580 ms", "810 ms"]
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)


CHECK = """<!DOCTYPE html><html><body><iframe id="r" src="report.html" style="width:1400px;height:900px"></iframe>
<pre id="out">pending</pre><script>
document.getElementById("r").addEventListener("load", function () {
  var d = this.contentDocument;
  var figs = Array.from(d.querySelectorAll("figure")).map(function (f) {
    var img = f.querySelector("img");
    return {id: f.id, width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0, complete: !!(img && img.complete),
            caption: (f.querySelector("figcaption") || {}).textContent || ""};
  });
  document.getElementById("out").textContent = JSON.stringify(figs);
});
</script></body></html>"""


def test_html_figures_render_in_chromium(report_dir):
    root, report = report_dir
    page = root / "rep" / "check-figures.html"
    page.write_text(CHECK)
    dom = browse(page, root / "profile-figs", "--allow-file-access-from-files", "--virtual-time-budget=5000",
                 "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout.split('<pre id="out">')[1].split("</pre>")[0]
    figures = {f["id"]: f for f in json.loads(text.replace("&quot;", '"').replace("&amp;", "&"))}
    expected = {f"fig-{f.name}" for f in report.all_figures()}
    assert set(figures) == expected == {"fig-libero-suites", "fig-libero-tasks", "fig-libero-length", "fig-latency"}
    for fig in figures.values():
        assert fig["complete"] and fig["width"] > 300 and fig["height"] > 150, fig
    shot = root / "figures-screenshot.png"
    done = browse(root / "rep" / "report.html", root / "profile-shot", "--window-size=1400,3000",
                  f"--screenshot={shot}")
    assert done.returncode == 0 and shot.stat().st_size > 10_000
    print(f"screenshot saved: {shot}")
