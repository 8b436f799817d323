"""The report's numbers from a real store: the paper's layouts, its averages, partial runs, and the
published baselines as data. Outcomes are chosen by the tests and written through ResultStore."""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

import pytest

from harness.api.errors import UsageError
from harness.cli import main
from harness.report.aggregate import load_run, open_store, run_row, task_rows
from harness.report.baselines import (
    BaselineResult,
    Source,
    baseline_dirs,
    shipped_baseline_dir,
    successes_of,
)
from harness.reporting import layout_for, load_baseline_file, load_baselines
from harness.stats import RateEstimate, wilson_interval
from tests.report_data import (
    libero_keys,
    libero_preset,
    make_manifest,
    result,
    robotwin_keys,
    robotwin_preset,
    write_run,
)

# Successes per LIBERO suite chosen so that the mean over suites differs from the pooled rate:
# the Long suite has fewer episodes planned than the others.
LIBERO_PLAN = {"libero_spatial": (9, 10), "libero_object": (10, 10), "libero_goal": (7, 10), "libero_10": (2, 5)}


def _libero_store(tmp_path):
    keys = [k for s, (_, n) in LIBERO_PLAN.items() for k in libero_keys([s], tasks=1, episodes=n)]
    store = tmp_path / "s.sqlite"
    run_id = write_run(
        store, make_manifest(libero_preset()), keys, lambda k: result(k, k.episode < LIBERO_PLAN[k.suite][0])
    )
    return store, run_id


def test_libero_row_pools_suites_and_averages_over_the_four_suites(tmp_path):
    store, run_id = _libero_store(tmp_path)
    with open_store(store) as s:
        run = load_run(s, run_id)
    layout = layout_for("libero")
    assert [c.label for c in layout.columns] == ["Spatial", "Object", "Goal", "Long"]
    row = run_row(layout, run)
    for suite, (k, n) in LIBERO_PLAN.items():
        cell = row.cells[suite]
        assert (cell.estimate.successes, cell.n, cell.planned) == (k, n, n)
        assert cell.estimate.interval() == pytest.approx(wilson_interval(k, n), abs=1e-12)
        assert not cell.partial
    # Table 2's Average: mean of 0.9, 1.0, 0.7, 0.4 = 0.75; the pooled rate would be 28/35 = 0.8.
    assert row.average.estimate.rate == pytest.approx(0.75)
    assert row.average.n == 35
    assert not row.average.partial


def test_robotwin_columns_average_over_tasks_and_the_average_over_settings(tmp_path):
    # Two tasks with different episode counts, so that the mean over tasks differs from pooling:
    # clean: task a 4/4, task b 1/2 -> mean 0.75 (pooled 5/6); randomized: a 2/4, b 0/2 -> 0.25 (pooled 2/6).
    outcomes = {("a", "clean"): 4, ("b", "clean"): 1, ("a", "randomized"): 2, ("b", "randomized"): 0}
    keys = robotwin_keys(["a"], 4) + robotwin_keys(["b"], 2)
    store = tmp_path / "rt.sqlite"
    run_id = write_run(
        store,
        make_manifest(robotwin_preset()),
        keys,
        lambda k: result(k, k.episode < outcomes[(k.task, k.setting)], seed=4_300_000 + k.episode),
    )
    with open_store(store) as s:
        run = load_run(s, run_id)
    layout = layout_for("robotwin")
    assert [c.label for c in layout.columns] == ["Clean", "Randomized"]
    row = run_row(layout, run)
    assert row.cells["clean"].estimate.rate == pytest.approx(0.75)
    assert row.cells["randomized"].estimate.rate == pytest.approx(0.25)
    assert row.cells["clean"].n == 6
    # Table 1's Average: (clean + randomized) / 2 = 0.5.
    assert row.average.estimate.rate == pytest.approx(0.5)
    # The clean cell's interval: Wilson at the effective n of the mean over tasks.
    clean = RateEstimate.mean([RateEstimate.pooled(4, 4), RateEstimate.pooled(1, 2)])
    assert row.cells["clean"].estimate.interval() == pytest.approx(clean.interval(), abs=1e-12)
    tasks = task_rows(layout, run)
    assert [(t.task, t.setting, t.cell.estimate.successes, t.cell.n) for t in tasks] == [
        ("a", "clean", 4, 4),
        ("b", "clean", 1, 2),
        ("a", "randomized", 2, 4),
        ("b", "randomized", 0, 2),
    ]


def test_partial_run_is_marked_per_cell_and_as_a_run(tmp_path):
    keys = libero_keys(["libero_object", "libero_goal"], tasks=2, episodes=3)
    store = tmp_path / "p.sqlite"
    # Two episodes of the goal suite were never stored (a run stopped early).
    run_id = write_run(
        store,
        make_manifest(libero_preset()),
        keys,
        lambda k: (
            None if (k.suite == "libero_goal" and k.task.endswith("1") and k.episode > 0) else result(k, k.episode == 0)
        ),
    )
    with open_store(store) as s:
        run = load_run(s, run_id)
    assert run.partial and run.missing == 2
    row = run_row(layout_for("libero"), run)
    assert not row.cells["libero_object"].partial
    assert row.cells["libero_goal"].partial and (row.cells["libero_goal"].n, row.cells["libero_goal"].planned) == (4, 6)
    assert row.average.note == "over 2 of 4 suites"
    partial_tasks = [t.task for t in task_rows(layout_for("libero"), run) if t.cell.partial]
    assert partial_tasks == ["libero_goal_task1"]


def test_error_episodes_count_as_failures_and_apart(tmp_path):
    keys = libero_keys(["libero_spatial"], tasks=1, episodes=4)
    store = tmp_path / "e.sqlite"
    run_id = write_run(
        store, make_manifest(libero_preset()), keys, lambda k: result(k, k.episode < 2, error=k.episode == 3)
    )
    with open_store(store) as s:
        cell = run_row(layout_for("libero"), load_run(s, run_id)).cells["libero_spatial"]
    assert (cell.estimate.successes, cell.n, cell.errors) == (2, 4, 1)


def test_missing_store_and_unknown_run_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="no results store"):
        open_store(tmp_path / "nope.sqlite")
    store, _ = _libero_store(tmp_path)
    with open_store(store) as s, pytest.raises(UsageError, match="no run 'missing-run'"):
        load_run(s, "missing-run")


def _store_with_ids(tmp_path, ids):
    store = tmp_path / "ids.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=1)
    for i, run_id in enumerate(ids):
        manifest = dataclasses.replace(make_manifest(libero_preset(), checkpoint=f"c{i}"), run_id=run_id)
        write_run(store, manifest, keys, lambda k: result(k, True))
    return store


def test_run_id_prefix_is_matched_literally_and_case_sensitively(tmp_path):
    store = _store_with_ids(tmp_path, ["ab_c-1", "abXc-2", "ABd-3"])
    with open_store(store) as s:
        # As SQL LIKE patterns, `_` and `%` were wildcards and case was ignored: each of these
        # matched several runs and came back as "no run".
        assert s.get_run("ab_").run_id == "ab_c-1"
        assert s.get_run("AB").run_id == "ABd-3"
        assert s.get_run("abX").run_id == "abXc-2"
        assert s.get_run("ab_c-1").run_id == "ab_c-1"
        for missing in ("ab%", "a_X", "Ab", "abx", ""):
            with pytest.raises(UsageError, match=f"no run {missing!r}"):
                s.get_run(missing)


def test_ambiguous_run_id_prefix_is_its_own_one_line_error(tmp_path):
    store = _store_with_ids(tmp_path, ["ab_c-1", "abXc-2", "ABd-3"])
    with open_store(store) as s, pytest.raises(UsageError) as err:
        s.get_run("ab")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("run id prefix 'ab' is ambiguous")
    assert "2 runs start with it (abXc-2, ab_c-1)" in message and "ABd-3" not in message


def test_report_cli_names_the_candidates_of_an_ambiguous_prefix(tmp_path, capsys):
    store = _store_with_ids(tmp_path, ["run-a1", "run-a2"])
    assert main(["report", "run-a", "--store", str(store), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ambiguous" in err and "run-a1, run-a2" in err


# -- baselines ------------------------------------------------------------------------------------


def test_shipped_baselines_hold_the_papers_tables_with_protocols():
    base = load_baselines(baseline_dirs())
    libero = {r.method: r for r in base.for_benchmark("libero")}
    robotwin = {r.method: r for r in base.for_benchmark("robotwin")}
    assert len(libero) == 11 and len(robotwin) == 10 and len(base.latencies) == 4
    # The official README's Optional IDM figures: their own source, marked as README figures.
    readme = {m: r for m, r in libero.items() if r.source.id == "fastwam-readme"}
    assert {m: (r.average, r.success["libero_10"]) for m, r in readme.items()} == {
        "Fast-WAM Optional IDM, idm mode (README)": (98.55, 97.0),
        "Fast-WAM Optional IDM, first_frame mode (README)": (97.75, 95.8),
    }
    assert all(r.table.startswith("README") and "not the paper's" in r.note for r in readme.values())
    assert libero["Fast-WAM"].success == {
        "libero_spatial": 98.2,
        "libero_object": 100.0,
        "libero_goal": 97.0,
        "libero_10": 95.2,
    }
    assert robotwin["Fast-WAM"].success == {"clean": 91.88, "randomized": 91.78}
    for name in ("Fast-WAM", "Fast-WAM-Joint", "Fast-WAM-IDM", "Fast-WAM w.o. video co-train"):
        assert libero[name].source.id == "fastwam-paper"
        assert libero[name].protocol == "fastwam-libero"
        assert robotwin[name].protocol == "fastwam-robotwin"
    for row in base.results:
        if not row.method.startswith("Fast-WAM"):
            assert row.protocol.startswith("as reported by")
    assert {r.method for r in base.results if r.name_inferred} == {"pi0", "pi0.5"}
    assert {lat.method: lat.latency_ms for lat in base.latencies} == {
        "Fast-WAM": 190,
        "Fast-WAM w.o. video co-train": 190,
        "Fast-WAM-Joint": 580,
        "Fast-WAM-IDM": 810,
    }


def test_printed_averages_agree_with_the_printed_columns():
    # A transcription check: the paper's Average is the mean of its columns, to its rounding.
    for row in load_baselines(baseline_dirs()).results:
        mean = sum(row.success.values()) / len(row.success)
        assert row.average == pytest.approx(mean, abs=0.051), row.method


def test_users_add_a_file_per_source_and_override_the_folder(tmp_path):
    local = tmp_path / "results" / "baselines"
    local.mkdir(parents=True)
    (local / "my-lab.toml").write_text(
        '[source]\nid = "my-lab"\ntitle = "Our checkpoint sweep"\n\n'
        '[[result]]\nbenchmark = "libero"\nmethod = "ours-v0"\nprotocol = "openpi-libero"\n'
        "trials_per_cell = 50\nsuccess = { libero_object = 88.0 }\n"
    )
    dirs = baseline_dirs(cwd=tmp_path)
    assert dirs == [shipped_baseline_dir(), local]
    methods = {r.method for r in load_baselines(dirs).for_benchmark("libero")}
    assert "ours-v0" in methods and "Fast-WAM" in methods
    only = load_baselines(baseline_dirs(local))
    assert [r.method for r in only.results] == ["ours-v0"]
    mine = only.results[0]
    assert mine.estimate("libero_object").successes == 44 and mine.estimate("libero_goal") is None


def test_bad_baseline_files_are_one_line_usage_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[source]\nid = "x"\ntitle = "x"\n[[result]]\nbenchmark = "libero"\nmethod = "m"\n'
        'protocol = "p"\nsuccess = { libero_spatial = 120.0 }\n'
    )
    with pytest.raises(UsageError, match="not a percentage"):
        load_baseline_file(bad)
    bad.write_text(
        '[source]\nid = "x"\ntitle = "x"\n[[result]]\nbenchmark = "libero"\nmethod = "m"\n'
        'protocol = "p"\nsuccess = { spatial = 90.0 }\n'
    )
    with pytest.raises(UsageError, match="spatial are not in the libero table"):
        load_baseline_file(bad)
    bad.write_text(
        '[source]\nid = "x"\ntitle = "x"\n[[result]]\nbenchmark = "libero"\nmethod = "m"\n'
        "success = { libero_spatial = 90.0 }\n"
    )
    with pytest.raises(UsageError, match="missing field 'protocol'"):
        load_baseline_file(bad)
    with pytest.raises(UsageError, match="does not exist"):
        baseline_dirs(tmp_path / "absent")


@pytest.mark.parametrize(
    "percent,trials,count",
    [
        (98.5, 500, 493),  # 492.5: round() gave 492 (half to even)
        (84.7, 500, 424),  # 423.5: the even neighbour is also the upper one
        (96.6, 500, 483),  # exact
        (0.5, 100, 1),  # 0.5: round() gave 0
        (2.5, 100, 3),  # 2.5: round() gave 2
        (82.74, 5000, 4137),  # exact at two decimals
        (0.01, 5000, 1),  # 0.5 again, at two decimals
        (100.0, 500, 500),
        (0.0, 500, 0),
    ],
)
def test_baseline_success_counts_round_halves_up(percent, trials, count):
    assert successes_of(percent, trials) == count
    row = BaselineResult(Source("s", "t"), "libero", "m", "p", {"libero_spatial": percent}, trials_per_cell=trials)
    assert row.estimate("libero_spatial") == RateEstimate.pooled(count, trials)


def test_shipped_half_cells_use_the_upper_count():
    # LingBot-VA's Spatial and Long are printed 98.5 of 500 trials: 493 successes each, and its
    # Average interval rests on them.
    lingbot = {r.method: r for r in load_baselines(baseline_dirs()).for_benchmark("libero")}["LingBot-VA"]
    assert lingbot.estimate("libero_spatial").successes == 493
    assert lingbot.estimate("libero_10").successes == 493
    assert lingbot.average_estimate().successes == 493 + 498 + 486 + 493


# -- every cell of the shipped baselines against the paper's tables (tests/data/paper/) -------------

PAPER = Path(__file__).parent / "data" / "paper"
PAPER_COLUMNS = {
    "libero": {"spatial": "libero_spatial", "object": "libero_object", "goal": "libero_goal", "long": "libero_10"},
    "robotwin": {"clean": "clean", "randomized": "randomized"},
}
PAPER_TABLES = {"libero": "table2_libero.csv", "robotwin": "table1_robotwin.csv"}


def _paper_rows(benchmark: str) -> list[dict[str, str]]:
    with (PAPER / PAPER_TABLES[benchmark]).open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("benchmark", ["libero", "robotwin"])
def test_every_cell_of_the_shipped_baselines_matches_the_paper(benchmark):
    shipped = [r for r in load_baselines([shipped_baseline_dir()]).for_benchmark(benchmark)
               if r.source.id == "fastwam-paper"]  # the README's figures are their own source
    paper = _paper_rows(benchmark)
    # Same rows in the paper's order: the report prints them in file order.
    assert [r.method for r in shipped] == [p["method"] for p in paper]
    columns = PAPER_COLUMNS[benchmark]
    assert set(paper[0]) == {"method", "embodied_pretraining", "average", "note", *columns}
    for row, printed in zip(shipped, paper, strict=True):
        where = f"{benchmark} {row.method}"
        assert row.embodied_pretraining is {"yes": True, "no": False}[printed["embodied_pretraining"]], where
        expected = {columns[c]: printed[c] for c in columns if printed[c] != ""}
        assert set(row.success) == set(expected), where
        for key, text in expected.items():
            # As printed, digits included: 58.40 stays "58.40", 100.0 stays "100.0".
            assert f"{row.success[key]:.{row.decimals}f}" == text, f"{where} {key}"
            assert row.success[key] == float(text), f"{where} {key}"
        assert row.average is not None and f"{row.average:.1f}" == printed["average"], where
        flags = {f.strip() for f in printed["note"].split(";") if f.strip()}
        # The only flags the paper's CSVs carry; an empty cell must be flagged "<column> not reported".
        not_reported = {f"{c} not reported" for c in columns if printed[c] == ""}
        assert flags - {"name inferred"} == not_reported, f"{where}: flags {flags}"
        assert row.name_inferred == ("name inferred" in flags), where
        assert row.table == ("Table 2" if benchmark == "libero" else "Table 1"), where


def test_every_latency_of_the_shipped_baselines_matches_figure_4():
    with (PAPER / "latency_figure4.csv").open(newline="") as f:
        paper = list(csv.DictReader(f))
    shipped = load_baselines([shipped_baseline_dir()]).latencies
    assert [lat.method for lat in shipped] == [p["variant"] for p in paper]
    for lat, printed in zip(shipped, paper, strict=True):
        assert lat.latency_ms == float(printed["latency_ms"]), lat.method
        assert lat.hardware == printed["hardware"], lat.method
        assert "Figure 4" in lat.protocol, lat.method
