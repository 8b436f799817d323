"""`wam-eval reproduce`: the verdict rule on hand-worked cases, the cells of a table, and the command
on the issue's slice of Table 2 (real LIBERO, in-process)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest

from envs.libero import LiberoBenchmark
from envs.presets import resolve_preset
from harness.report.baselines import baseline_dirs
from harness.reporting import load_baselines
from harness.reproduce.cells import judge_cells
from harness.reproduce.tables import get_table, table_spec
from harness.reproduce.verdict import (
    ABOVE,
    BELOW,
    REPRODUCED,
    TOO_FEW,
    binomial_test,
    enough_episodes,
    judge,
    power,
)
from harness.spec import episode_keys, plan_tasks


def test_exact_binomial_p_values_worked_by_hand():
    # n = 10 at 0.5: pmf(k) = C(10, k) / 1024. k = 0: only 0 and 10 are as unlikely -> 2/1024.
    assert binomial_test(0, 10, 0.5) == pytest.approx(2 / 1024, rel=1e-12)
    # k = 2: outcomes no likelier than C(10,2) = 45 are 0, 1, 2, 8, 9, 10 -> (1 + 10 + 45) * 2 / 1024.
    assert binomial_test(2, 10, 0.5) == pytest.approx(112 / 1024, rel=1e-12)
    assert binomial_test(5, 10, 0.5) == pytest.approx(1.0)
    # n = 2 at 0.98: pmf = 0.0004, 0.0392, 0.9604.
    assert binomial_test(0, 2, 0.98) == pytest.approx(0.0004)
    assert binomial_test(1, 2, 0.98) == pytest.approx(0.0396)
    assert binomial_test(2, 2, 0.98) == pytest.approx(1.0)
    # A paper rate of 100%: a single failure is impossible under it.
    assert binomial_test(499, 500, 1.0) == 0.0 and binomial_test(500, 500, 1.0) == 1.0


def test_power_worked_by_hand():
    # n = 10 at 0.5 rejects k in {0, 1, 9, 10} (p = 22/1024 < 0.05; k = 2 has 112/1024). Against 0.6:
    # 0.4^10 + 10*0.6*0.4^9 + 10*0.4*0.6^9 + 0.6^10.
    expected = 0.4**10 + 10 * 0.6 * 0.4**9 + 10 * 0.4 * 0.6**9 + 0.6**10
    assert power(10, 0.5, 0.6) == pytest.approx(expected, rel=1e-12)
    # At a paper rate of 1.0 only the drop to 0.9 exists: power 1 - 0.9^n reaches 0.8 at n = 16.
    assert not enough_episodes(15, 1.0) and enough_episodes(16, 1.0)


@pytest.mark.parametrize("k, n, paper, verdict, inside", [
    (450, 500, 0.982, BELOW, False),  # far below: p ~ 5e-22
    (490, 500, 0.982, REPRODUCED, True),  # 98.0% against 98.2%: p = 0.73, and 500 episodes could see 10 points
    (500, 500, 0.952, ABOVE, False),  # 0.952^500 ~ 2e-11
    (2, 2, 0.98, TOO_FEW, True),  # p = 1; n = 2 rejects only k <= 1, power 1 - 0.88^2 = 0.23 against 0.88
    (0, 2, 0.98, BELOW, False),  # p = 0.0004: even two episodes can refute a 98% rate
    (0, 0, 0.5, TOO_FEW, True),
])
def test_verdicts_worked_by_hand(k, n, paper, verdict, inside):
    j = judge(k, n, paper)
    assert j.verdict == verdict and j.paper_inside == inside
    if n:
        assert j.interval[0] <= k / n <= j.interval[1]


def _paper(method="Fast-WAM"):
    rows = load_baselines(baseline_dirs()).for_benchmark("libero")
    return next(r for r in rows if r.method == method and r.table == "Table 2")


def _rows(keys, successes):
    return [{"episode_id": k.id, "suite": k.suite, "setting": k.setting, "success": i < successes.get(k.suite, 0)}
            for k in keys for i in [k.episode]]


def test_cells_of_the_full_table_and_of_a_narrowed_one():
    table, bench = get_table("table2"), LiberoBenchmark()
    preset = resolve_preset("fastwam-libero")
    full = episode_keys(plan_tasks(table_spec(table, policy="fastwam"), bench, preset))
    assert len(full) == 2000
    # Per suite, the first k episodes of every task succeed: 10 tasks x k.
    got = judge_cells(table, bench, preset, full, _rows(full, {"libero_spatial": 49, "libero_object": 50,
                                                             "libero_goal": 50, "libero_10": 40}),
                      _paper(), run_id="r")
    cells = {c.column: c for c in got.cells}
    assert not got.narrowed and set(cells) == {"libero_spatial", "libero_object", "libero_goal", "libero_10", "average"}
    assert (cells["libero_spatial"].successes, cells["libero_spatial"].n) == (490, 500)
    assert cells["libero_spatial"].verdict == REPRODUCED and cells["libero_spatial"].part == "all 10 tasks, 50 episodes each"
    assert cells["libero_object"].verdict == REPRODUCED  # 500/500 against the paper's 100.0
    assert cells["libero_goal"].verdict == ABOVE  # 500/500 against 97.0
    assert cells["libero_10"].verdict == BELOW  # 400/500 against 95.2
    assert (cells["average"].successes, cells["average"].n, cells["average"].paper_percent) == (1890, 2000, 97.6)

    narrow = episode_keys(plan_tasks(table_spec(table, policy="fastwam", suites=("libero_object",), tasks="0",
                                                episodes=2), bench, preset))
    got = judge_cells(table, bench, preset, narrow, _rows(narrow, {"libero_object": 2}), _paper(), run_id="r")
    assert got.narrowed and [c.column for c in got.cells] == ["libero_object"]  # no Average from one column
    (cell,) = got.cells
    assert cell.part == "1 of 10 tasks, 2 of 50 episodes each" and not cell.full
    assert (cell.successes, cell.n, cell.verdict) == (2, 2, TOO_FEW)


def test_a_suite_outside_the_table_is_refused():
    from harness.api.errors import UsageError

    with pytest.raises(UsageError, match="Table 2 has no suite libero_90"):
        table_spec(get_table("table2"), policy="noop", suites=("libero_90",))


def test_protocol_mismatch_is_said_only_where_the_protocols_differ():
    from harness.reproduce.cells import protocol_mismatch

    paper, hashes = _paper(), {"fastwam-libero": resolve_preset("fastwam-libero").hash}
    assert protocol_mismatch(resolve_preset("fastwam-libero"), paper, hashes) == ""
    said = protocol_mismatch(resolve_preset("openpi-libero"), paper, hashes)
    assert said.startswith("protocols differ: this run used openpi-libero #") and "under fastwam-libero" in said
    # A row measured as "reported by" a paper is never the same protocol as a wam-eval preset.
    other = dataclasses.replace(paper, protocol="as reported by the Fast-WAM paper (Table 2)")
    assert "under as reported by" in protocol_mismatch(resolve_preset("fastwam-libero"), other, hashes)


def cli(*args: str) -> subprocess.CompletedProcess:
    # A wide log (COLUMNS), so that each verdict row is one line: the checks below read rows, not layout.
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=900,
                          env={**os.environ, "COLUMNS": "200"})


def test_reproduce_on_a_slice_plans_stores_reports_judges_and_resumes(tmp_path):
    """The issue's slice: ~1 min (two 280-step LIBERO episodes in-process)."""
    store, out = tmp_path / "s.sqlite", tmp_path / "report"
    # noop has no row in the paper: it is judged against the row --against names, under another protocol.
    argv = ["reproduce", "table2", "--suite", "libero_object", "--tasks", "0", "--episodes", "2", "--policy", "noop",
            "--against", "Fast-WAM", "--workers", "0", "--store", str(store), "--out", str(out)]
    first = cli(*argv)
    assert first.returncode == 0, first.stderr
    text = first.stdout
    assert "plan 2 episodes: suites libero_object; tasks 0" in text and "narrowed" in text
    assert "estimate no measured pace yet" in text
    mismatch = "protocols differ: this run used openpi-libero"
    assert text.count(mismatch) == 2  # in the plan, before anything runs, and under the verdicts
    assert "2 planned, 0 already stored, 2 to run" in text
    assert "below paper" in text and "1 of 10 tasks, 2 of 50 episodes each" in text
    verdicts = json.loads((out / "verdicts.json").read_text())
    assert verdicts["narrowed"] and verdicts["paper_method"] == "Fast-WAM"
    assert verdicts["protocol_mismatch"].startswith(mismatch) and "under fastwam-libero" in verdicts["protocol_mismatch"]
    (cell,) = verdicts["cells"]
    assert (cell["column"], cell["successes"], cell["n"], cell["verdict"]) == ("libero_object", 0, 2, "below paper")
    from harness.store import ResultStore

    with ResultStore(store) as s:
        assert len(s.episode_rows(verdicts["run_id"])) == 2
    report = (out / "report.md").read_text()
    assert "| Object | Verdict |" in report and "n=2 | below paper |" in report
    assert "Warning: " + mismatch in report

    again = cli(*argv)  # resumes like `run`: nothing left, the same verdicts, an estimate from the stored pace
    assert again.returncode == 0, again.stderr
    assert "nothing to do: all 2 planned episode(s) are stored already" in again.stdout  # no policy built
    assert "at the pace of 2 stored episode(s)" in again.stdout
    assert json.loads((out / "verdicts.json").read_text())["cells"] == verdicts["cells"]


def test_a_policy_without_a_paper_row_needs_against(tmp_path):
    got = cli("reproduce", "table2", "--policy", "noop", "--store", str(tmp_path / "s.sqlite"))
    assert got.returncode == 2 and not (tmp_path / "s.sqlite").exists()
    (line,) = got.stderr.strip().splitlines()
    assert "no row for policy 'noop'" in line and "--against METHOD" in line and "Fast-WAM-Joint" in line, line


def test_each_policy_is_judged_against_its_own_row():
    from harness.cli.cmd_reproduce import paper_row
    from harness.reproduce.tables import paper_method

    table, base = get_table("table2"), load_baselines(baseline_dirs())

    def row(policy, checkpoint=None, **options):
        spec = table_spec(table, policy=policy, checkpoint=checkpoint, policy_options=options)
        return paper_row(base, table, paper_method(spec))

    assert row("fastwam").method == "Fast-WAM" and row("fastwam-joint").method == "Fast-WAM-Joint"
    assert row("fastwam-idm", "ckpt/libero_idm_2cam224.pt").method == "Fast-WAM-IDM"  # the paper's variant
    optional = "ckpt/libero_optional_idm_2cam224.pt"
    idm = row("fastwam-idm", optional)
    assert idm.method == "Fast-WAM Optional IDM, idm mode (README)" and idm.average == 98.55
    assert idm.source.id == "fastwam-readme"
    first = row("fastwam-idm", optional, action_infer_mode="first_frame")
    assert first.average == 97.75 and first.success["libero_10"] == 95.8
    assert paper_method(table_spec(table, policy="noop")) is None  # no row of its own: --against is required
    from harness.api.errors import UsageError

    with pytest.raises(UsageError, match="no row 'pi7'.*choose --against from: .*OpenVLA"):
        paper_row(base, table, "pi7")
