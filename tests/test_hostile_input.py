"""Input a hostile (or unlucky) user gives: markup and HTML in names, runs that fail before their
first episode, videos that cannot be written, long report folder names, episodes that end in error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, renamed, result, write_run

POLICIES = "tests.policies_for_tests"
ODD_PRESET = "odd[/]preset[bold]<b>x</b>"
ODD_POLICY = "pol[/red]icy [link=http://x]<img src=x onerror=alert(1)>"


def _odd_preset(tmp_path: Path, short_preset: Path) -> Path:
    path = tmp_path / "odd.toml"
    path.write_text(short_preset.read_text().replace('name = "test-libero-short"', f'name = "{ODD_PRESET}"'))
    return path


def _run(store: Path, preset: Path, *extra: str) -> int:
    return main(["run", "--suite", "libero_goal", "--tasks", "0", "--episodes", "1", "--workers", "0",
                 "--preset", str(preset), "--store", str(store), "--policy", f"{POLICIES}:Named",
                 "--policy-option", f"name={ODD_POLICY}", *extra])


def test_markup_and_html_in_names_are_printed_and_reported_as_text(tmp_path, short_preset, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")
    store = tmp_path / "store.sqlite"
    preset = _odd_preset(tmp_path, short_preset)
    assert _run(store, preset) == 0
    out = capsys.readouterr().out
    assert f"preset {ODD_PRESET} v1" in out and f"policy {ODD_POLICY} checkpoint" in out
    with ResultStore(store) as s:
        (run,) = s.runs()
        (invocation,) = s.invocations(run.run_id)
    assert invocation["outcome"] == "complete"

    assert main(["presets", "show", str(preset)]) == 0
    assert f"{ODD_PRESET} v1" in capsys.readouterr().out
    assert main(["export", run.run_id, "--store", str(store), "--out", str(tmp_path / "e.csv")]) == 0
    capsys.readouterr()
    report = tmp_path / "report"
    assert main(["report", run.run_id, "--store", str(store), "--out", str(report)]) == 0
    markdown = (report / "report.md").read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;" in markdown and "<img src=x" not in markdown
    assert "&lt;b&gt;x&lt;/b&gt;" in markdown and "<b>x</b>" not in markdown.split("```json")[0]
    html = (report / "report.html").read_text()
    assert "<img src=x" not in html


def test_a_run_failing_before_its_first_episode_closes_its_invocation(tmp_path, short_preset, monkeypatch):
    import harness.driver

    def header_fails(*args, **kwargs):
        raise RuntimeError("the terminal went away")

    monkeypatch.setattr(harness.driver, "_print_header", header_fails)
    store = tmp_path / "store.sqlite"
    with pytest.raises(RuntimeError, match="the terminal went away"):
        main(["run", "--suite", "libero_goal", "--tasks", "0", "--episodes", "1", "--workers", "0",
              "--preset", str(short_preset), "--store", str(store), "--policy", "noop"])
    with ResultStore(store) as s:
        (run,) = s.runs()
        (invocation,) = s.invocations(run.run_id)
    assert invocation["ended_at"] is not None
    assert invocation["outcome"] == "failed: RuntimeError: the terminal went away"
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM run_locks").fetchone()[0] == 0


def test_episodes_in_error_exit_3_and_an_unwritable_video_is_warned(tmp_path, short_preset, capsys):
    store = tmp_path / "store.sqlite"
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    code = _run(store, short_preset, "--policy-option", "raise=1", "--record", "all", "--video-dir", str(not_a_folder))
    out = " ".join(capsys.readouterr().out.split())
    assert code == 3
    assert "1 episode(s) ended in error (counted as failures); exit code 3" in out
    assert "video not written:" in out and "1 video(s) could not be written" in out
    # The same command again runs nothing (the error row is stored) and still says so.
    assert _run(store, short_preset, "--policy-option", "raise=1") == 3


def test_long_report_folder_names_are_cut_with_a_hash_of_the_whole(tmp_path):
    from harness.report import FOLDER_NAME_MAX, default_out_dir

    class Run:
        def __init__(self, run_id: str):
            self.run_id = run_id

    shared = "fastwam-" + "x" * 150
    a = default_out_dir([Run(shared + "-aaaaaaaa")], tmp_path)
    b = default_out_dir([Run(shared + "-bbbbbbbb")], tmp_path)
    assert a != b and len(a.name) == len(b.name) == FOLDER_NAME_MAX
    assert a.name.startswith("fastwam-xxx")
    assert default_out_dir([Run("noop-openpi-libero-1234abcd")], tmp_path).name == "noop-openpi-libero-1234abcd"
    many = [Run(f"noop-openpi-libero-{i:08x}") for i in range(8)]
    assert default_out_dir(many, tmp_path) != default_out_dir(many[:7] + [Run("noop-openpi-libero-ffffffff")], tmp_path)


def test_report_md_escapes_html_from_the_store(tmp_path):
    store = tmp_path / "store.sqlite"
    preset = renamed(libero_preset(), "<script>alert(1)</script>")
    manifest = make_manifest(preset, policy="<img src=x onerror=alert(1)>")
    keys = libero_keys(suites=("libero_goal",), tasks=1, episodes=2)
    run_id = write_run(store, manifest, keys, lambda k: result(k, k.episode == 0))
    out = tmp_path / "rep"
    assert main(["report", run_id, "--store", str(store), "--out", str(out), "--allow-preset-mismatch"]) == 0
    markdown = (out / "report.md").read_text()
    outside_code = markdown.split("```json")[0]
    assert "<script>" not in outside_code and "<img" not in outside_code
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in outside_code


def test_reproduce_prints_a_user_baselines_names_as_text(tmp_path):
    # A user's baseline file names the source, method and protocol a reproduction is judged against:
    # printed as text, never read as rich markup (an unbalanced [/] would abort the print).
    import argparse

    from rich.console import Console

    from envs.libero import LiberoBenchmark
    from envs.presets import resolve_preset
    from harness.cli.cmd_reproduce import paper_row, print_plan, print_verdicts
    from harness.reporting import load_baselines
    from harness.reproduce.cells import judge_cells
    from harness.reproduce.tables import get_table, table_spec
    from harness.spec import episode_keys, plan_tasks

    odd_source, odd_method, odd_protocol = "src[/]odd", "pol[/red]icy [bold]x", "as run by [link=http://x]us[/]"
    (tmp_path / "mine.toml").write_text(
        f'[source]\nid = "{odd_source}"\ntitle = "t"\n\n[[result]]\nbenchmark = "libero"\ntable = "Table 2"\n'
        f'method = "{odd_method}"\nprotocol = "{odd_protocol}"\ntrials_per_cell = 500\n'
        "success = { libero_object = 90.0 }\n"
    )
    table = get_table("table2")
    paper = paper_row(load_baselines([tmp_path]), table, odd_method)
    spec = table_spec(table, policy="noop", suites=("libero_object",), tasks="0", episodes=1)
    preset = resolve_preset("openpi-libero")
    console = Console(record=True, width=300)
    args = argparse.Namespace(suite=("libero_object",), tasks="0", episodes=1, store=tmp_path / "none.sqlite", workers=0)
    print_plan(console, table, spec, args, paper, preset)
    keys = episode_keys(plan_tasks(spec, LiberoBenchmark(), preset))
    rows = [{"episode_id": k.id, "suite": k.suite, "setting": k.setting, "success": True} for k in keys]
    print_verdicts(console, judge_cells(table, LiberoBenchmark(), preset, keys, rows, paper, run_id="r"))
    out = console.export_text()
    assert f"judged against {odd_method} in {odd_source} Table 2 ({odd_protocol})" in out
    assert f"against {odd_method} ({odd_source})" in out  # the verdict table's title
    assert f"measured under {odd_protocol}" in out  # the protocol warning
