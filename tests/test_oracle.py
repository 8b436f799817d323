"""Oracle policies (PolicyInfo.privileged): marked as such wherever a run is shown, never passed off
as a learned policy."""

from __future__ import annotations

import numpy as np
from rich.console import Console

from harness.api.types import EpisodeKey
from harness.driver import _print_header
from harness.report.aggregate import load_run, open_store
from harness.report.baselines import baseline_dirs
from harness.report.write_markdown import render_markdown
from harness.reporting import build_report, load_baselines
from policies.base import PolicyInfo
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


def test_an_oracle_run_is_marked_in_the_header_the_stored_record_and_the_report(tmp_path):
    preset = libero_preset()
    info = PolicyInfo(name="an-oracle", action_dim=7, horizon=1, privileged=True)
    console = Console(record=True, width=300)
    manifest = make_manifest(preset, policy="an-oracle")
    manifest.policy = {**manifest.policy, "privileged": True}
    _print_header(console, manifest, info, preset, planned=1, todo=1, store="s.sqlite")
    assert "ORACLE: acts on privileged simulator state" in console.export_text()
    store = tmp_path / "s.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    oracle = write_run(store, manifest, keys, lambda k: result(k, True))
    learned = write_run(store, make_manifest(preset, checkpoint="b"), keys, lambda k: result(k, False))
    with open_store(store) as s:
        runs = [load_run(s, oracle), load_run(s, learned)]
    assert [r.privileged for r in runs] == [True, False]  # from the stored run record
    md = render_markdown(build_report(runs, load_baselines(baseline_dirs()), out_dir=tmp_path / "r", figures=False))
    assert f"> **Oracle.** Run {oracle} is an ORACLE" in md
    assert f"{oracle} [an-oracle] (ORACLE)" in md or f"{oracle} (ORACLE)" in md
    assert f"Run {learned} is an ORACLE" not in md


# -- libero-oracle on real LIBERO ------------------------------------------------------------------
ORACLE_TASKS = "0,6"  # alphabet soup (a can) and butter (a flat box): two grasp shapes


def test_libero_oracle_solves_libero_object_episodes_through_the_engine(tmp_path):
    from harness.driver import RunOptions, run_evaluation
    from harness.spec import EvalSpec
    from harness.store import ResultStore

    store = tmp_path / "s.sqlite"
    spec = EvalSpec(benchmark="libero", policy="libero-oracle", suites=("libero_object",), tasks=ORACLE_TASKS,
                    episodes=1)
    outcome = run_evaluation(spec, RunOptions(store=store, quiet=True))
    assert outcome.manifest.preset_name == "openpi-libero" and outcome.manifest.policy["privileged"] is True
    with ResultStore(store) as s:
        rows = s.episode_rows(outcome.run_id)
    assert len(rows) == 2
    for row in rows:
        assert row["success"] and row["end_reason"] == "success", row
        assert 0 < row["steps"] < 280 and row["drift_verdict"] in ("ok", "no reference")
        assert row["render_ms"] == 0.0, "the oracle reads no camera: nothing is rendered"


class RecordingClient:
    """The engine's in-process policy client, keeping every chunk the oracle returned."""

    def __init__(self, client):
        self.client, self.chunks = client, []

    def reset(self, key):
        self.client.reset(key)

    def infer(self, observation):
        reply = self.client.infer(observation)
        self.chunks.append(np.asarray(reply.chunk.actions))
        return reply


def test_the_oracles_actions_in_a_bare_libero_loop_succeed_at_the_same_step():
    """The harness's env, rollout loop and success check against LIBERO's own ControlEnv driven by
    hand (seed, reset, set_init_state, no-op warm-up, actions, check_success): same success step."""
    import os

    from envs.libero.catalog import libero_suite
    from envs.presets import resolve_preset
    from envs.registry import get_benchmark
    from harness.rollout import LocalPolicyClient
    from harness.worker import EpisodeRunner, WorkerJob, job_tasks
    from policies.base import PolicyContext
    from policies.libero_oracle import LiberoOracle

    preset = resolve_preset("openpi-libero")
    bench = get_benchmark("libero")
    task = next(s for s in bench.suites() if s.name == "libero_object").tasks[0]
    oracle = LiberoOracle(PolicyContext(benchmark="libero", action_dim=7, noop_action=tuple(bench.noop_action_for(preset))))
    client = RecordingClient(LocalPolicyClient(oracle))
    runner = EpisodeRunner(WorkerJob(benchmark="libero", preset=preset, tasks=job_tasks([task]), cameras=()), client,
                           oracle.info())
    key = EpisodeKey("libero", task.suite, task.name, "default", 3)
    try:
        result = runner.run(key)
    finally:
        runner.close()
    assert result.success and result.end_reason == "success"
    actions = np.concatenate([c[: preset.replan_steps] for c in client.chunks])[: result.steps]

    from libero.libero import get_libero_path
    from libero.libero.envs.env_wrapper import ControlEnv

    suite = libero_suite("libero_object")
    bddl = os.path.join(get_libero_path("bddl_files"), suite.get_task(task.index).problem_folder,
                        suite.get_task(task.index).bddl_file)
    env = ControlEnv(bddl_file_name=bddl, has_renderer=False, has_offscreen_renderer=False, use_camera_obs=False,
                     ignore_done=True)
    try:
        env.seed(preset.env_seed)
        env.reset()
        env.set_init_state(suite.get_task_init_states(task.index)[key.episode])
        for _ in range(preset.warmup_steps):
            env.step(np.array(preset.warmup_action))
        success_at = None
        for i, action in enumerate(actions, start=1):
            env.step(action)
            if env.check_success():
                success_at = i
                break
    finally:
        env.close()
    assert success_at == result.steps
