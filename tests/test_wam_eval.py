"""The Python API: `wam_eval.evaluate` runs real LIBERO episodes in this process and returns what the
store holds; a policy object, `load_runs`, `load_episodes`, `compare` and `report`."""

from __future__ import annotations

import pandas as pd
import pytest

import wam_eval
from harness.api.errors import UsageError
from harness.store import ResultStore
from policies.base import PolicyContext
from tests.policies_for_tests import Scripted


def test_evaluate_runs_a_real_episode_and_its_row_is_the_stored_one(short_preset, tmp_path):
    store = tmp_path / "s.sqlite"
    episodes, run_id = wam_eval.evaluate("noop", suites=["libero_object"], tasks="0", episodes=1,
                                         preset=str(short_preset), store=store)
    assert isinstance(episodes, pd.DataFrame) and len(episodes) == 1
    with ResultStore(store) as db:
        (stored,) = db.episode_rows(run_id)
        assert db.get_run(run_id).spec["policy"] == "noop"
    row = episodes.iloc[0].to_dict()
    for column, value in stored.items():
        assert row[column] == value, column
    assert row["run_id"] == run_id and row["suite"] == "libero_object" and row["steps"] == 12
    assert row["end_reason"] == "horizon" and row["success"] == False  # noqa: E712 - numpy bool

    again = wam_eval.evaluate("noop", suites=["libero_object"], tasks="0", episodes=1, preset=str(short_preset),
                              store=store)
    assert again.run_id == run_id and again.outcome.ran == 0  # resumed: nothing left to run
    pd.testing.assert_frame_equal(again.episodes, episodes)

    runs = wam_eval.load_runs(store)
    (listed,) = runs.to_dict("records")
    assert (listed["run_id"], listed["policy"], listed["episodes"], listed["success_rate"]) == (run_id, "noop", 1, 0.0)
    pd.testing.assert_frame_equal(wam_eval.load_episodes(run_id[:12], store=store), episodes)


def test_a_policy_object_runs_in_process_and_needs_a_label_without_a_digest(short_preset, tmp_path):
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 6 + (-1.0,), action_horizon=None)
    policy = Scripted(ctx)
    store = tmp_path / "s.sqlite"
    kwargs = dict(suites=["libero_goal"], tasks="3", episodes=1, preset=str(short_preset), store=store)
    with pytest.raises(UsageError, match="declares no checkpoint digest: pass checkpoint=LABEL"):
        wam_eval.evaluate(policy, **kwargs)
    with pytest.raises(UsageError, match="runs in this process"):
        wam_eval.evaluate(policy, checkpoint="step-1", workers=2, **kwargs)
    first = wam_eval.evaluate(policy, checkpoint="step-1", **kwargs)
    assert len(first.episodes) == 1 and policy.calls  # this very object acted
    second = wam_eval.evaluate(policy, checkpoint="step-2", **kwargs)
    assert second.run_id != first.run_id  # another label, another run

    comparison = wam_eval.compare(first.run_id, second.run_id, store=store)
    assert comparison.a.run_id == first.run_id and comparison.comparisons
    written = wam_eval.report([first.run_id, second.run_id], store=store, out=tmp_path / "report")
    assert written.files.html.is_file() and first.run_id in written.files.markdown.read_text()


def test_with_a_console_and_no_say_the_ray_engines_lines_go_to_the_console(short_preset, tmp_path, shared_ray, capfd):
    import io

    from rich.console import Console

    out = io.StringIO()
    wam_eval.evaluate("noop", suites=["libero_object"], tasks="0", episodes=1, preset=str(short_preset),
                      store=tmp_path / "s.sqlite", workers=1, console=Console(file=out, width=200))
    assert "engine local Ray: 1 worker(s)" in out.getvalue()
    assert "engine local Ray" not in capfd.readouterr().err
