"""Remote policies on real LIBERO episodes (CI-sized preset: 1-2 cameras at 128 px, 20 steps):
same episode as in-process, a server killed and restarted mid-run, a mismatched handshake, and a
policy served by openpi's own server. About 60 s on 2 cores."""

from __future__ import annotations

import dataclasses
import io
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from harness.api.types import EndReason, EpisodeKey, Observation
from harness.driver import RunOptions, run_evaluation
from harness.rollout import LocalPolicyClient, PolicyClient, PolicyReply, RolloutPlan, run_episode
from harness.spec import EvalSpec
from harness.store import ResultStore
from harness.worker import cameras_for
from policies.base import PolicyContext
from policies.remote import make_remote_policy
from tests.remote_helpers import (
    PROBE_REF,
    REPO,
    OpenpiLiberoPolicy,
    OpenpiServerThread,
    ProbePolicy,
    ServedPolicy,
    libero_task_env,
    subprocess_env,
    write_preset,
)

CTX = PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 6 + (-1.0,))


class RecordingClient:
    """Passes calls through and keeps the actions each call returned."""

    def __init__(self, inner: PolicyClient):
        self.inner = inner
        self.actions: list[np.ndarray] = []
        self.infos: list[dict] = []

    def reset(self, key: EpisodeKey) -> None:
        self.inner.reset(key)

    def infer(self, observation: Observation) -> PolicyReply:
        reply = self.inner.infer(observation)
        self.actions.append(np.array(reply.chunk.actions, copy=True))
        self.infos.append(reply.chunk.info)
        return reply


def _quiet_run(spec: EvalSpec, store: Path):
    return run_evaluation(spec, RunOptions(store=store, quiet=True), console=Console(file=io.StringIO()))


def test_an_episode_through_the_server_matches_the_policy_in_process(tmp_path):
    # The preset renders two cameras; the policy declares it reads one, at 64 px.
    preset_path = write_preset(tmp_path / "p.toml", cameras=("agentview", "robot0_eye_in_hand"))
    options = {"cameras": "agentview", "image_size": "64"}
    local = ProbePolicy(dataclasses.replace(CTX, options=options))
    with ServedPolicy("--policy", PROBE_REF, *(f"--policy-option={k}={v}" for k, v in options.items())) as server:
        remote = make_remote_policy(server.address, CTX)
        # the handshake carried the served policy's PolicyInfo, plus where it is served
        assert dataclasses.replace(remote.info(), extra={}) == local.info()
        benchmark, task, preset, _ = libero_task_env(preset_path, build=False)
        cameras = cameras_for(preset, remote.info())
        assert cameras == ("agentview",)  # only what the policy reads is rendered and sent
        _, _, _, env = libero_task_env(preset_path, cameras=cameras)
        key = EpisodeKey("libero", task.suite, task.name, "default", 0)
        plan = RolloutPlan.build(preset=preset, suite=task.suite, task=task.name, policy=remote.info(), action_dim=7,
                                 noop_action=benchmark.noop_action_for(preset), cameras=cameras)
        try:
            here = RecordingClient(LocalPolicyClient(local))
            local_result = run_episode(env, here, key, plan)
            there = RecordingClient(LocalPolicyClient(remote))
            remote_result = run_episode(env, there, key, plan)
        finally:
            remote.close()
            env.close()
    assert local_result.end_reason == remote_result.end_reason == EndReason.HORIZON, remote_result.error
    assert (local_result.success, local_result.steps, local_result.policy_calls) == (
        remote_result.success, remote_result.steps, remote_result.policy_calls)
    assert len(here.actions) == len(there.actions) == 4
    for a, b in zip(here.actions, there.actions):
        np.testing.assert_array_equal(a, b)
    assert np.abs(here.actions[-1][:, :6]).max() > 0.01  # it moved the arm: the frames fed back
    assert there.infos[0]["probe_images"] == {"agentview": [64, 64]}  # resized before it was sent
    # per request: the server's inference and the round trip, stored with the episode
    calls = remote_result.extra["calls"]
    assert all(c["roundtrip_ms"] >= c["server_infer_ms"] >= 0 and c["queue_ms"] > 0 for c in calls)
    assert remote_result.timings.queue_ms == pytest.approx(sum(c["queue_ms"] for c in calls), abs=0.1)
    assert local_result.timings.queue_ms == 0 and "roundtrip_ms" not in local_result.extra["calls"][0]


def test_a_server_killed_mid_run_and_restarted_the_run_completes_each_episode_once(tmp_path):
    preset = write_preset(tmp_path / "p.toml", episodes=3)
    calls_file = tmp_path / "calls.txt"
    calls_file.touch()
    server = ServedPolicy("--policy", PROBE_REF, "--policy-option", f"calls_file={calls_file}").start()
    restarted = threading.Event()

    def kill_then_restart() -> None:
        deadline = time.monotonic() + 120
        while len(calls_file.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.kill()  # SIGKILL in the middle of episode 0
        time.sleep(1.5)
        server.start()
        restarted.set()

    chaos = threading.Thread(target=kill_then_restart, daemon=True)
    chaos.start()
    spec = EvalSpec(benchmark="libero", policy=server.address, preset=str(preset), suites=("libero_object",),
                    tasks="0", episodes=3, policy_options={"retry_timeout": "60"})
    try:
        outcome = _quiet_run(spec, tmp_path / "s.sqlite")
    finally:
        chaos.join(timeout=30)
        server.kill()
    assert restarted.is_set()
    ids = [r.key.id for r in outcome.results]
    assert outcome.ran == 3 and len(set(ids)) == 3 == len(outcome.planned)
    assert all(r.end_reason != EndReason.ERROR for r in outcome.results), [r.error for r in outcome.results]
    with ResultStore(tmp_path / "s.sqlite") as store:
        rows = store.episode_rows(outcome.run_id)
        assert sorted(r["episode_id"] for r in rows) == sorted(k.id for k in outcome.planned)
        assert store.get_run(outcome.run_id).finished_at is not None
    waits = [c["reconnect_ms"] for r in rows for c in r["extra"]["calls"] if "reconnect_ms" in c]
    assert len(waits) == 1 and waits[0] >= 1000  # one call waited for the server to come back
    first = next(r for r in rows if r["episode"] == 0)
    assert first["queue_ms"] >= waits[0]


def test_a_mismatched_handshake_stops_the_run_before_it_starts(tmp_path):
    preset = write_preset(tmp_path / "p.toml")
    store = tmp_path / "s.sqlite"
    with ServedPolicy("--policy", PROBE_REF, "--policy-option", "action_dim=14") as server:
        proc = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--policy", server.address, "--suite", "libero_object",
             "--tasks", "0", "--episodes", "1", "--preset", str(preset), "--store", str(store)],
            capture_output=True, text=True, env=subprocess_env(), cwd=REPO, timeout=120,
        )
    assert proc.returncode == 2, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("wam-eval:")]
    assert errors == [proc.stderr.strip().splitlines()[-1]] and len(errors) == 1
    assert f"the server at ws://127.0.0.1:{server.port} serves policy probe with 14-D actions; libero takes 7-D" in errors[0]
    assert "episodes" not in proc.stdout  # no run header: nothing was planned
    assert not store.exists() or not ResultStore(store).runs()


def test_evaluates_a_policy_served_by_openpis_own_server(tmp_path, caplog):
    preset = write_preset(tmp_path / "p.toml", cameras=("agentview", "robot0_eye_in_hand"), episodes=1)
    policy = OpenpiLiberoPolicy(horizon=10)
    with OpenpiServerThread(policy, metadata={}) as server, caplog.at_level(logging.WARNING, "wam_eval.remote"):
        spec = EvalSpec(benchmark="libero", policy=f"remote://127.0.0.1:{server.port}", preset=str(preset),
                        suites=("libero_object",), tasks="0", episodes=1, checkpoint="pi05-libero-test",
                        policy_options={"horizon": "10", "name": "openpi-probe"})
        outcome = _quiet_run(spec, tmp_path / "s.sqlite")
    assert "not a wam-eval server" in caplog.text
    (result,) = outcome.results
    assert result.end_reason == EndReason.HORIZON and result.steps == 20, result.error
    assert len(policy.received) == result.policy_calls == 4
    for obs in policy.received:  # exactly the keys and shapes openpi's LIBERO example sends
        assert obs["observation/image"].shape == obs["observation/wrist_image"].shape == (224, 224, 3)
        assert obs["observation/image"].dtype == np.uint8
        assert obs["observation/state"].shape == (8,)
        assert obs["prompt"] == result.instruction
    assert not np.array_equal(policy.received[0]["observation/image"], policy.received[0]["observation/wrist_image"])
    calls = result.extra["calls"]
    assert all("server_infer_ms" in c and "roundtrip_ms" in c for c in calls)
    assert all("server_prev_total_ms" in c for c in calls[1:])  # openpi's own timing field
    manifest = outcome.manifest
    assert manifest.policy_name == "openpi-probe" and manifest.checkpoint_digest == "label:pi05-libero-test"
    assert manifest.policy["extra"]["capabilities"] == "declared by --policy-option"
    assert manifest.policy["input_transforms"] == [{"name": "resize", "params": {"height": 224, "width": 224}}]
