"""The engine benchmarks' own arithmetic (benchmarks/engine_common.py): the engine's share per
episode, the rollout loop's own time, the history line that keeps every run's figures with the
commit it measured. No simulator, no Ray: the figures come from results built here."""

from __future__ import annotations

import json

import pytest

from benchmarks import engine_common
from benchmarks.engine_common import HarnessRun, ray_system_pids, write_figures
from harness.api.types import EndReason, EpisodeKey, EpisodeResult, EpisodeTimings


def _result(episode: int, **timings: float) -> EpisodeResult:
    key = EpisodeKey("libero", "libero_object", "task", "default", episode)
    return EpisodeResult(key=key, success=False, steps=100, end_reason=EndReason.HORIZON,
                         timings=EpisodeTimings(**timings))


def test_engine_share_is_the_time_between_results_the_episodes_did_not_take() -> None:
    results = [_result(0, total_ms=9000.0), _result(1, total_ms=3900.0), _result(2, total_ms=4000.0)]
    run = HarnessRun(wall_s=20.0, run_s=18.0, episodes=3, finished_at=[10.0, 14.0, 18.05], results=results)
    # 4.0 s between the first two results, 3.9 s of it the second episode's; 4.05 s then 4.0 s
    assert run.engine_s == pytest.approx([0.1, 0.05])
    assert run.steady_episode_s == pytest.approx(4.025)


def test_the_rollout_loops_own_time_is_what_env_render_reset_and_policy_leave() -> None:
    run = HarnessRun(wall_s=1.0, run_s=1.0, episodes=1, finished_at=[1.0], results=[
        _result(0, total_ms=4000.0, reset_ms=1000.0, env_ms=1200.0, render_ms=1700.0, policy_ms=70.0)])
    assert run.loop_s == pytest.approx([0.03])


def test_without_a_ray_started_here_no_ray_processes_are_counted(monkeypatch) -> None:
    import ray._private.worker as ray_worker

    monkeypatch.setattr(ray_worker, "_global_node", None)  # a Ray joined, not started, has none either
    assert ray_system_pids() == []
    assert HarnessRun(wall_s=1.0, run_s=1.0, episodes=2, finished_at=[0.0, 1.0]).ray_system_cores == 0.0


def test_every_run_appends_its_figures_and_commit_to_the_history(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(engine_common, "OUT", tmp_path)
    for n in (1, 2):
        data = {"benchmark": "b", "machine": engine_common.machine(), "figures": {"x": n}, "rounds": [{"big": n}]}
        write_figures("b", data, f"run {n}\n")
    lines = [json.loads(line) for line in (tmp_path / "b.history.jsonl").read_text().splitlines()]
    assert [line["figures"]["x"] for line in lines] == [1, 2]  # appended, never replaced
    assert all(len(line["machine"]["commit"]) == 40 and "date" in line["machine"] for line in lines)
    assert all("rounds" not in line for line in lines)  # per-round detail stays in the latest .json
    assert (tmp_path / "b.md").read_text() == "run 2\n"
