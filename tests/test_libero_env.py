"""The LIBERO adapter on the real simulator: every task builds and renders, episodes end where the
preset says, frames are deterministic and identical to robosuite's always-rendering path."""

from __future__ import annotations

import numpy as np
import pytest

from envs.libero import LiberoBenchmark
from envs.libero.catalog import load_suites
from envs.presets import resolve_preset
from harness.api.types import EndReason, EpisodeKey
from harness.rollout import LocalPolicyClient, RolloutPlan, run_episode
from policies.base import PolicyContext
from policies.baselines import NoopPolicy, RandomPolicy

BENCH = LiberoBenchmark()
PAPER_SUITES = [s for s in load_suites() if s.in_paper]
ALL_TASKS = [t for s in PAPER_SUITES for t in s.tasks]


def _key(task, episode=0):
    return EpisodeKey("libero", task.suite, task.name, "default", episode)


def _ctx(**options):
    noop = tuple(BENCH.noop_action_for(resolve_preset("openpi-libero")))
    return PolicyContext(benchmark="libero", action_dim=7, noop_action=noop, seed=3, options=options)


def test_catalog_has_the_four_paper_suites_and_libero_90():
    suites = {s.name: s for s in load_suites()}
    assert [s.name for s in PAPER_SUITES] == ["libero_spatial", "libero_object", "libero_goal", "libero_10"]
    assert [s.display_name for s in PAPER_SUITES] == ["Spatial", "Object", "Goal", "Long"]
    assert all(len(s.tasks) == 10 for s in PAPER_SUITES)
    assert len(suites["libero_90"].tasks) == 90 and not suites["libero_90"].in_paper
    assert all(t.episodes == 50 and t.instruction for t in ALL_TASKS)


@pytest.mark.parametrize("task", ALL_TASKS, ids=lambda t: f"{t.suite}-{t.index}")
def test_every_task_builds_resets_and_renders(task):
    preset = resolve_preset("openpi-libero")
    env = BENCH.make_env(task, preset, cameras=preset.render.cameras)
    try:
        out = env.reset(_key(task), render=True)
        images = out.observation.images
        assert set(images) == {"agentview", "robot0_eye_in_hand"}
        for img in images.values():
            assert img.shape == (256, 256, 3) and img.dtype == np.uint8
            assert img.std() > 5.0, "blank frame"
        assert out.observation.state.shape == (8,)
        assert out.observation.instruction == task.instruction
        assert out.render_ms > 0
    finally:
        env.close()


@pytest.mark.parametrize("suite", PAPER_SUITES, ids=lambda s: s.name)
def test_noop_episode_ends_at_the_suite_horizon(suite):
    preset = resolve_preset("openpi-libero")
    task = suite.tasks[0]
    policy = NoopPolicy(_ctx())
    # No camera: the horizon and the call schedule are the subject here (frames are tested above and
    # below), and a 520-step episode rendering every fifth step would cost a minute of CI.
    plan = RolloutPlan.build(preset=preset, suite=task.suite, task=task.name, policy=policy.info(), action_dim=7,
                             noop_action=BENCH.noop_action_for(preset), cameras=())
    env = BENCH.make_env(task, preset, cameras=())
    try:
        result = run_episode(env, LocalPolicyClient(policy), _key(task, 1), plan)
    finally:
        env.close()
    limit = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520}[suite.name]
    assert result.end_reason == EndReason.HORIZON and result.success is False
    assert result.steps == limit
    assert result.warmup_steps == 10
    assert result.policy_calls == limit // 5
    assert result.error is None


def _frames_of(env, task, episode, seed_policy):
    frames = []
    plan = RolloutPlan.build(preset=env._preset, suite=task.suite, task=task.name, policy=seed_policy.info(),
                             action_dim=7, noop_action=BENCH.noop_action_for(env._preset), cameras=env._cameras)
    result = run_episode(env, LocalPolicyClient(seed_policy), _key(task, episode), plan,
                         frame_sink=lambda obs: frames.append({k: v.copy() for k, v in obs.images.items()}))
    return frames, result


def test_same_key_and_seed_give_identical_frames_and_outcome(short_preset):
    preset = resolve_preset(str(short_preset))
    task = PAPER_SUITES[1].tasks[2]
    env = BENCH.make_env(task, preset, cameras=preset.render.cameras)
    try:
        frames_a, result_a = _frames_of(env, task, 4, RandomPolicy(_ctx()))
        _frames_of(env, task, 9, RandomPolicy(_ctx()))  # another episode in between must not leak
        frames_b, result_b = _frames_of(env, task, 4, RandomPolicy(_ctx()))
    finally:
        env.close()
    assert len(frames_a) == len(frames_b) == result_a.policy_calls == 3
    for fa, fb in zip(frames_a, frames_b):
        for cam in fa:
            np.testing.assert_array_equal(fa[cam], fb[cam])
    assert (result_a.success, result_a.steps, result_a.end_reason) == (result_b.success, result_b.steps, result_b.end_reason)
    # and a different seed moves the arm differently
    env = BENCH.make_env(task, preset, cameras=preset.render.cameras)
    try:
        frames_c, _ = _frames_of(env, task, 4, RandomPolicy(PolicyContext(
            benchmark="libero", action_dim=7, noop_action=tuple(BENCH.noop_action_for(preset)), seed=4)))
    finally:
        env.close()
    assert not np.array_equal(frames_a[-1]["robot0_eye_in_hand"], frames_c[-1]["robot0_eye_in_hand"])


def test_on_demand_frames_equal_always_rendered_frames(short_preset):
    """Gating the camera sensors must not change what robosuite renders at the steps we read."""
    import os

    from libero.libero import get_libero_path
    from libero.libero.envs import OffScreenRenderEnv

    from envs.libero.catalog import libero_suite

    preset = resolve_preset(str(short_preset))
    task = PAPER_SUITES[0].tasks[3]
    suite = libero_suite(task.suite)
    libero_task = suite.get_task(task.index)
    init = suite.get_task_init_states(task.index)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-1, 1, size=(9, 7))

    reference = OffScreenRenderEnv(
        bddl_file_name=os.path.join(get_libero_path("bddl_files"), libero_task.problem_folder, libero_task.bddl_file),
        camera_heights=64, camera_widths=64, ignore_done=True,
    )
    reference.seed(preset.env_seed)
    reference.reset()
    ref_obs = [reference.set_init_state(init[2])]
    for a in actions:
        ref_obs.append(reference.step(a)[0])
    reference.close()

    env = BENCH.make_env(task, preset, cameras=preset.render.cameras)
    try:
        read_at = {0, 4, 9}  # the reset frame and two later steps; every other step renders nothing
        ours = [env.reset(_key(task, 2), render=True).observation]
        for i, a in enumerate(actions, start=1):
            out = env.step(a, render=i in read_at)
            assert bool(out.observation.images) == (i in read_at)
            assert (out.render_ms > 0) == (i in read_at)
            ours.append(out.observation)
    finally:
        env.close()
    for i in read_at:
        for cam in ("agentview", "robot0_eye_in_hand"):
            expected = ref_obs[i][f"{cam}_image"][::-1, ::-1]  # the preset rotates by 180 degrees
            np.testing.assert_array_equal(ours[i].images[cam], expected)
        np.testing.assert_allclose(ours[i].state[:3], ref_obs[i]["robot0_eef_pos"])
