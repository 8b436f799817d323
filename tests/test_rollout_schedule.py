"""The rollout loop's schedule, on an env that records what it was asked: which steps render (only
the frame the policy reads next), when the policy is called, and what a bad chunk does. The real
LIBERO runs of these protocols are in test_fastwam_protocol.py and test_libero_env.py; this file
pins the schedule of every built-in protocol in a second, with no simulator."""

from __future__ import annotations

import numpy as np
import pytest

from envs.base import ResetOutcome, StepOutcome
from envs.presets import resolve_preset
from harness.api.types import ActionChunk, EndReason, EpisodeKey, Observation
from harness.rollout import LocalPolicyClient, RolloutPlan, run_episode
from policies.base import PolicyInfo
from policies.transforms import TransformSpec


class RecordingEnv:
    """Never succeeds; remembers the step index of every render it was asked for."""

    def __init__(self, action_dim: int):
        self.action_dim = action_dim
        self.steps = 0
        self.rendered_at: list[int] = []  # -1: the reset

    def _obs(self, render: bool) -> Observation:
        images = {"cam": np.zeros((4, 4, 3), np.uint8)} if render else {}
        return Observation(images=images, state=np.zeros(3), instruction="do it", episode_id="e", step=self.steps)

    def reset(self, key, *, render, params=None):
        self.steps = 0
        if render:
            self.rendered_at.append(-1)
        return ResetOutcome(self._obs(render))

    def step(self, action, *, render):
        assert np.asarray(action).shape == (self.action_dim,)
        self.steps += 1
        if render:
            self.rendered_at.append(self.steps)
        return StepOutcome(self._obs(render), done=False, success=False)

    def close(self):
        pass


class CallLog:
    def __init__(self, horizon: int, action_dim: int, actions: np.ndarray | None = None,
                 output_transforms: tuple[TransformSpec, ...] = ()):
        self.horizon, self.action_dim = horizon, action_dim
        self.actions = actions
        self.output_transforms = output_transforms
        self.called_at: list[int] = []
        self.saw_frames: list[bool] = []

    def info(self) -> PolicyInfo:
        return PolicyInfo(name="log", action_dim=self.action_dim, horizon=self.horizon,
                          output_transforms=self.output_transforms)

    def reset(self, episode) -> None:
        pass

    def infer(self, observations):
        (obs,) = observations
        self.called_at.append(obs.step)
        self.saw_frames.append(bool(obs.images))
        actions = self.actions if self.actions is not None else np.zeros((self.horizon, self.action_dim))
        return [ActionChunk(actions)]


def schedule(preset_name: str, suite: str, task: str, action_dim: int, horizon: int):
    preset = resolve_preset(preset_name)
    env, policy = RecordingEnv(action_dim), CallLog(horizon, action_dim)
    plan = RolloutPlan.build(preset=preset, suite=suite, task=task, policy=policy.info(), action_dim=action_dim,
                             noop_action=np.zeros(action_dim), cameras=("cam",))
    result = run_episode(env, LocalPolicyClient(policy), EpisodeKey("b", suite, task, "default", 0), plan)
    return preset, env, policy, result


@pytest.mark.parametrize("preset_name, suite, task, action_dim, horizon", [
    ("openpi-libero", "libero_spatial", "t", 7, 10),
    ("fastwam-libero", "libero_10", "t", 7, 32),
    ("fastwam-robotwin", "robotwin", "beat_block_hammer", 14, 32),
])
def test_frames_are_rendered_only_where_the_policy_reads_them(preset_name, suite, task, action_dim, horizon):
    preset, env, policy, result = schedule(preset_name, suite, task, action_dim, horizon)
    limit, warmup, replan = preset.max_steps_for(suite, task), preset.warmup_steps, preset.replan_steps
    assert result.end_reason == EndReason.HORIZON and result.steps == limit
    # The policy is asked after the warm-up, then every `replan` executed actions, until the limit.
    expected_calls = list(range(warmup, warmup + limit, replan))
    assert policy.called_at == expected_calls
    # Every frame rendered was read by the policy, and every frame the policy read was rendered:
    # none inside a replanning window, none after the last call.
    first = -1 if warmup == 0 else warmup
    assert env.rendered_at == [first] + expected_calls[1:]
    assert all(policy.saw_frames)
    assert len(env.rendered_at) == result.policy_calls == -(-limit // replan)


def test_inf_is_refused_before_an_output_transform_could_hide_it():
    """The LIBERO gripper post-processing ends in sign(): an inf gripper value would become a
    valid-looking -1 or 1 if the check ran only on the transformed actions."""
    preset = resolve_preset("fastwam-libero")
    actions = np.zeros((32, 7))
    actions[3, 6] = np.inf
    policy = CallLog(32, 7, actions=actions, output_transforms=(TransformSpec("libero_gripper", {}),))
    plan = RolloutPlan.build(preset=preset, suite="libero_object", task="t", policy=policy.info(), action_dim=7,
                             noop_action=np.zeros(7), cameras=("cam",))
    result = run_episode(RecordingEnv(7), LocalPolicyClient(policy), EpisodeKey("b", "libero_object", "t", "default", 0),
                         plan)
    assert result.end_reason == EndReason.ERROR and result.steps == 0
    assert "NaN or inf (first at step 3, dim 6)" in result.error
    assert result.extra["error_source"] == "policy"
