"""The episode loop shared by every benchmark: reset, warm-up, ask the policy, execute, judge.

It knows nothing about a particular simulator or policy: the env renders only when told to, and the
loop tells it to only for the observation the policy will read next.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np

from envs.base import Env
from envs.presets import Preset
from harness.api.errors import PolicyOutputError
from harness.api.types import (
    ActionChunk,
    DriftCheck,
    EndReason,
    EpisodeKey,
    EpisodeResult,
    EpisodeTimings,
    ErrorSource,
    Observation,
)
from policies.base import Policy, PolicyInfo
from policies.transforms import TransformSpec, apply_transforms


@dataclass
class PolicyReply:
    chunk: ActionChunk
    policy_ms: float  # time spent computing the answer
    queue_ms: float = 0.0  # time spent waiting (shared actor queue, network)


class PolicyClient(Protocol):
    """How an episode reaches its policy: in-process, a shared batching actor, or a remote server."""

    def reset(self, key: EpisodeKey) -> None: ...

    def infer(self, observation: Observation) -> PolicyReply: ...


class LocalPolicyClient:
    """A policy object living in the same process as the env."""

    def __init__(self, policy: Policy):
        self.policy = policy

    def reset(self, key: EpisodeKey) -> None:
        self.policy.reset(key)

    def infer(self, observation: Observation) -> PolicyReply:
        t0 = time.perf_counter()
        chunks = self.policy.infer([observation])
        ms = (time.perf_counter() - t0) * 1000.0
        if len(chunks) != 1:
            raise PolicyOutputError(f"policy returned {len(chunks)} action chunks for 1 observation")
        # A policy that waits on something outside itself (a remote server) says how long in its chunk.
        waited = min(max(float(getattr(chunks[0], "queue_ms", 0.0) or 0.0), 0.0), ms)
        return PolicyReply(chunks[0], policy_ms=ms - waited, queue_ms=waited)


@dataclass(frozen=True)
class RolloutPlan:
    """Everything about an episode that is fixed before it starts (from the preset and the policy)."""

    max_steps: int
    warmup_steps: int
    warmup_action: np.ndarray
    replan_steps: int | None
    action_dim: int
    horizon: int | None
    reads_frames: bool
    input_transforms: tuple[TransformSpec, ...] = ()
    output_transforms: tuple[TransformSpec, ...] = ()

    @classmethod
    def build(cls, *, preset: Preset, suite: str, task: str, policy: PolicyInfo, action_dim: int,
              noop_action: np.ndarray, cameras: Sequence[str], limits_from: str = "") -> "RolloutPlan":
        warmup = np.asarray(preset.warmup_action if preset.warmup_action is not None else noop_action, dtype=np.float64)
        return cls(
            max_steps=preset.max_steps_for(suite, task, limits_from),
            warmup_steps=preset.warmup_steps,
            warmup_action=warmup,
            replan_steps=preset.replan_steps,
            action_dim=action_dim,
            horizon=preset.action_horizon or policy.horizon or None,
            reads_frames=bool(cameras),
            input_transforms=tuple(policy.input_transforms),
            output_transforms=tuple(policy.output_transforms),
        )


def validate_chunk(chunk: ActionChunk, *, action_dim: int, horizon: int | None) -> np.ndarray:
    """The chunk's actions as float64 (steps x action_dim), or PolicyOutputError saying what is wrong."""
    if not isinstance(chunk, ActionChunk):
        raise PolicyOutputError(f"policy returned {type(chunk).__name__}, not an ActionChunk")
    try:
        actions = np.asarray(chunk.actions, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PolicyOutputError(f"actions are not numeric: {exc}") from None
    if actions.ndim == 1:
        actions = actions[None, :]
    if actions.ndim != 2:
        raise PolicyOutputError(f"actions have shape {actions.shape}; expected (horizon, {action_dim})")
    if actions.shape[1] != action_dim:
        raise PolicyOutputError(f"action dimension is {actions.shape[1]}; this benchmark takes {action_dim}")
    if actions.shape[0] == 0:
        raise PolicyOutputError("policy returned an empty action chunk")
    if horizon is not None and actions.shape[0] != horizon:
        raise PolicyOutputError(f"action chunk has {actions.shape[0]} steps; the policy declared horizon {horizon}")
    _refuse_nonfinite(actions)
    if chunk.execute is not None and not 1 <= int(chunk.execute) <= actions.shape[0]:
        raise PolicyOutputError(f"chunk asks to execute {chunk.execute} of {actions.shape[0]} actions")
    return actions


def _refuse_nonfinite(actions: np.ndarray) -> None:
    if not np.all(np.isfinite(actions)):
        bad = np.argwhere(~np.isfinite(np.atleast_2d(actions)))[0]
        raise PolicyOutputError(f"action chunk holds NaN or inf (first at step {bad[0]}, dim {bad[1]})")


def check_raw_chunk(chunk: ActionChunk) -> None:
    """NaN or inf in what the policy itself returned, before the output transforms: one of them
    (the LIBERO gripper's sign) would turn an inf into a valid-looking -1 or 1."""
    if not isinstance(chunk, ActionChunk):
        return  # validate_chunk names the type
    try:
        actions = np.asarray(chunk.actions, dtype=np.float64)
    except (TypeError, ValueError):
        return  # validate_chunk says why
    _refuse_nonfinite(actions)


def _steps_to_execute(plan: RolloutPlan, chunk: ActionChunk, n_actions: int) -> int:
    # The protocol's replanning interval wins over the policy's wish: it is part of what is compared.
    if plan.replan_steps is not None:
        return min(plan.replan_steps, n_actions)
    if chunk.execute is not None:
        return int(chunk.execute)
    return n_actions


def _call_record(reply: PolicyReply) -> dict[str, float]:
    record = {"policy_ms": round(reply.policy_ms, 3), "queue_ms": round(reply.queue_ms, 3)}
    for name, value in reply.chunk.info.items():
        if name.endswith("_ms") and isinstance(value, (int, float)):
            record[name] = round(float(value), 3)
    return record


@dataclass
class _Tally:
    timings: EpisodeTimings = field(default_factory=EpisodeTimings)
    steps: int = 0
    warmup: int = 0  # warm-up steps actually taken (fewer when the env failed during them)
    calls: list[dict[str, float]] = field(default_factory=list)
    drift: DriftCheck | None = None


def run_episode(
    env: Env,
    policy: PolicyClient,
    key: EpisodeKey,
    plan: RolloutPlan,
    *,
    frame_sink: Callable[[Observation], None] | None = None,
    params: Mapping[str, Any] | None = None,
) -> EpisodeResult:
    """Run one episode to success, the step limit or an error. Never raises for policy or env faults:
    they end the episode with reason `error` and the message, and the caller decides what to rebuild.
    `params`: what the benchmark's preparation decided for this episode, passed to the env's reset."""
    tally = _Tally()
    t_start = time.perf_counter()
    instruction = ""
    seed = None
    extra: dict = {}

    def finish(reason: EndReason, success: bool, error: str | None = None,
               source: ErrorSource | None = None) -> EpisodeResult:
        tally.timings.total_ms = (time.perf_counter() - t_start) * 1000.0
        if tally.calls:
            extra["calls"] = tally.calls
        fields: dict[str, Any] = dict(
            steps=tally.steps, instruction=instruction, policy_calls=len(tally.calls), warmup_steps=tally.warmup,
            timings=tally.timings, seed=seed, extra=extra,
            drift=tally.drift.deviation if tally.drift else None,
            drift_verdict=tally.drift.verdict.value if tally.drift else None,
        )
        if source is not None:
            return EpisodeResult.failed(key, source, error or "", **fields)
        return EpisodeResult(key=key, success=success, end_reason=reason, **fields)

    # -- reset and warm-up: the env's business; a fault here is the env's -----------------------
    # Timings partition: reset_ms is the reset without its rendering, env_ms the physics of every
    # step (warm-up included), render_ms every frame (the reset's included).
    try:
        reset = env.reset(key, render=plan.reads_frames and plan.warmup_steps == 0, params=params)
        tally.timings.reset_ms = reset.env_ms
        tally.timings.render_ms += reset.render_ms
        obs = reset.observation
        instruction, seed = obs.instruction, reset.seed
        extra.update(reset.extra)
        for i in range(plan.warmup_steps):
            out = env.step(plan.warmup_action, render=plan.reads_frames and i == plan.warmup_steps - 1)
            tally.warmup += 1
            tally.timings.env_ms += out.env_ms
            tally.timings.render_ms += out.render_ms
            obs = out.observation
        # The env checks that it starts from the reference scene, before the policy sees anything
        # (LIBERO: envs/libero/golden.py). Memory reads only, no rendering: booked as physics time.
        check_drift = getattr(env, "check_drift", None)
        if check_drift is not None:
            t0 = time.perf_counter()
            tally.drift = check_drift()
            tally.timings.env_ms += (time.perf_counter() - t0) * 1000.0
    except Exception as exc:  # noqa: BLE001 - any simulator fault ends only this episode
        return finish(EndReason.ERROR, False, f"{type(exc).__name__}: {exc}", source=ErrorSource.ENV)
    try:
        policy.reset(key)
    except Exception as exc:  # noqa: BLE001
        return finish(EndReason.ERROR, False, f"{type(exc).__name__}: {exc}", source=ErrorSource.POLICY)

    # -- closed loop ---------------------------------------------------------------------------
    while tally.steps < plan.max_steps:
        try:
            if frame_sink is not None:
                frame_sink(obs)
            t0 = time.perf_counter()
            policy_obs = apply_transforms(obs, plan.input_transforms)
            transform_ms = (time.perf_counter() - t0) * 1000.0
            reply = policy.infer(policy_obs)
            t0 = time.perf_counter()
            if plan.output_transforms:
                check_raw_chunk(reply.chunk)  # validate_chunk below sees only the transformed actions
            chunk = apply_transforms(reply.chunk, plan.output_transforms)
            actions = validate_chunk(chunk, action_dim=plan.action_dim, horizon=plan.horizon)
            transform_ms += (time.perf_counter() - t0) * 1000.0
        except Exception as exc:  # noqa: BLE001 - a policy fault ends only this episode
            return finish(EndReason.ERROR, False, f"{type(exc).__name__}: {exc}", source=ErrorSource.POLICY)
        reply = dataclasses.replace(reply, policy_ms=reply.policy_ms + transform_ms)
        tally.timings.policy_ms += reply.policy_ms
        tally.timings.queue_ms += reply.queue_ms
        tally.calls.append(_call_record(reply))

        n_exec = _steps_to_execute(plan, chunk, len(actions))
        try:
            for j in range(n_exec):
                last_of_chunk = j == n_exec - 1
                will_ask_again = tally.steps + 1 < plan.max_steps
                out = env.step(actions[j], render=plan.reads_frames and last_of_chunk and will_ask_again)
                tally.steps += 1
                tally.timings.env_ms += out.env_ms
                tally.timings.render_ms += out.render_ms
                if out.success:
                    return finish(EndReason.SUCCESS, True)
                if tally.steps >= plan.max_steps:
                    break
        except Exception as exc:  # noqa: BLE001
            return finish(EndReason.ERROR, False, f"{type(exc).__name__}: {exc}", source=ErrorSource.ENV)
        obs = out.observation
    return finish(EndReason.HORIZON, False)
