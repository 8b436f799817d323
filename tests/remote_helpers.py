"""Shared pieces of the remote-policy tests: a deterministic policy that reads what it is sent, a
`wam-eval serve` process the tests start and kill, openpi's own server in a thread, a tiny preset."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo
from policies.transforms import TransformSpec

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PROBE_REF = f"{__name__}:make_probe_policy"  # tests.remote_helpers:make_probe_policy


def observation_features(obs: Observation) -> np.ndarray:
    """What the probe reacts to: every frame's per-channel mean (cameras in name order), the state."""
    parts = [obs.images[c].reshape(-1, obs.images[c].shape[-1]).mean(axis=0) / 255.0 for c in sorted(obs.images)]
    parts.append(np.asarray(obs.state, dtype=np.float64))
    parts.append(np.array([zlib.crc32(obs.instruction.encode()) % 997 / 997.0]))
    return np.concatenate(parts)


class ProbePolicy:
    """Deterministic, and sensitive to everything it is sent (frames, state, instruction) and to its
    per-episode call count, so that a lost frame, a wrong key or a missed reset changes its actions.
    Options: action_dim, horizon, cameras (comma-separated), image_size (declares a resize),
    delay_s (sleep per call), fail_step (raise at that step), calls_file (append one line per call,
    so a test can see the server working)."""

    def __init__(self, ctx: PolicyContext):
        opts = ctx.options
        size = int(opts["image_size"]) if "image_size" in opts else None
        self._info = PolicyInfo(
            name="probe",
            action_dim=int(opts.get("action_dim", ctx.action_dim)),
            horizon=int(opts.get("horizon", ctx.action_horizon or 10)),
            checkpoint_digest=f"probe-seed-{ctx.seed}",
            cameras=tuple(opts["cameras"].split(",")) if "cameras" in opts else None,
            image_size=(size, size) if size else None,
            input_transforms=(TransformSpec("resize", {"height": size, "width": size}),) if size else (),
            description="test policy: actions are a fixed function of what it sees",
        )
        self._delay = float(opts.get("delay_s", 0))
        self._fail_step = int(opts["fail_step"]) if "fail_step" in opts else None
        self._calls_file = opts.get("calls_file")
        self._calls: dict[str, int] = {}

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        self._calls[episode.id] = 0

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        if self._delay:
            time.sleep(self._delay)
        out = []
        for obs in observations:
            if self._fail_step is not None and obs.step == self._fail_step:
                raise RuntimeError(f"probe told to fail at step {obs.step}")
            k = self._calls.get(obs.episode_id, 0)
            self._calls[obs.episode_id] = k + 1
            f = observation_features(obs)
            h, d = self._info.horizon, self._info.action_dim
            grid = np.arange(h)[:, None] * 0.05 + np.arange(d)[None, :] * f.sum() * 0.01 + 0.02 * k
            actions = 0.3 * np.sin(grid + f[:d].sum())
            actions[:, -1] = -1.0  # keep the gripper open
            seen = {c: list(img.shape[:2]) for c, img in obs.images.items()}
            out.append(ActionChunk(actions, info={"probe_call": k, "probe_features": float(f.sum()), "probe_images": seen}))
            if self._calls_file:
                with open(self._calls_file, "a") as fh:
                    fh.write(f"{obs.episode_id} {obs.step} {k}\n")
        return out


def make_probe_policy(ctx: PolicyContext) -> ProbePolicy:
    return ProbePolicy(ctx)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


class ServedPolicy:
    """`wam-eval serve` in a child process on a fixed loopback port; kill() and start() again."""

    def __init__(self, *args: str, port: int | None = None, timeout: float = 60.0):
        # The tests compare against policies built with seed 0; serve's own default is the preset's seed.
        self.args = args if any(a.startswith("--seed") for a in args) else (*args, "--seed", "0")
        self.timeout = timeout  # to start (a big policy loads for a while)
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.log: list[str] = []

    @property
    def address(self) -> str:
        return f"remote://127.0.0.1:{self.port}"

    def start(self, timeout: float | None = None) -> "ServedPolicy":
        timeout = timeout or self.timeout
        cmd = [sys.executable, "-m", "harness.cli", "serve", "--port", str(self.port), *self.args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env=subprocess_env(), cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"server exited ({self.proc.wait()}):\n{''.join(self.log)}")
            self.log.append(line)
            if re.search(rf"on ws://127\.0\.0\.1:{self.port}\b", line):
                threading.Thread(target=self._drain, args=(self.proc,), daemon=True).start()
                return self
        raise RuntimeError(f"server did not start within {timeout} s:\n{''.join(self.log)}")

    def _drain(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            self.log.append(line)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def __enter__(self) -> "ServedPolicy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()


class OpenpiServerThread:
    """openpi's own WebsocketPolicyServer (the `openpi-server` package, byte-identical to openpi's
    src/openpi/serving/websocket_policy_server.py) on a loopback port, in a thread of this process."""

    def __init__(self, policy, metadata: dict | None = None):
        from openpi_server import WebsocketPolicyServer

        self.port = free_port()
        self._server = WebsocketPolicyServer(policy, host="127.0.0.1", port=self.port, metadata=metadata)
        self._loop = asyncio.new_event_loop()
        self._task = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._task = self._loop.create_task(self._server.run())
        try:
            self._loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass

    def __enter__(self) -> "OpenpiServerThread":
        self._thread.start()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("openpi's server did not start")

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(timeout=10)


class OpenpiLiberoPolicy:
    """An openpi-style policy (dict in, dict out) reading openpi's LIBERO keys, as LiberoInputs does."""

    def __init__(self, horizon: int = 10):
        self.horizon = horizon
        self.received: list[dict] = []

    def infer(self, obs: dict) -> dict:
        self.received.append(obs)
        image, wrist = obs["observation/image"], obs["observation/wrist_image"]
        state = np.asarray(obs["observation/state"], dtype=np.float64)
        level = image.mean() / 255.0 + wrist.mean() / 255.0 + state.sum() * 0.01 + len(obs["prompt"]) * 1e-3
        actions = 0.2 * np.sin(np.arange(self.horizon)[:, None] * 0.1 + np.arange(7)[None, :] * level)
        actions[:, -1] = -1.0
        return {"actions": actions.astype(np.float32), "state": state}

    def reset(self) -> None:
        pass


def write_preset(path: Path, *, cameras: Sequence[str] = ("agentview",), size: int = 128, max_steps: int = 20,
                 episodes: int = 3) -> Path:
    """A CI-sized LIBERO preset: short episodes, small frames, openpi's replanning."""
    cams = ", ".join(f'"{c}"' for c in cameras)
    path.write_text(f"""name = "remote-test"
version = 1
benchmark = "libero"
description = "CI-sized LIBERO protocol for the remote-policy tests"
source = "tests/remote_helpers.py"
official = false
episodes_per_task = {episodes}
env_seed = 7
warmup_steps = 2
warmup_action = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]
replan_steps = 5
max_steps_default = {max_steps}
settings = ["default"]

[render]
cameras = [{cams}]
height = {size}
width = {size}
rotate_180 = true
""")
    return path


def libero_task_env(preset_path: Path, *, suite: str = "libero_object", task_index: int = 0,
                    cameras: Sequence[str] | None = None, build: bool = True):
    """(benchmark, task, preset, env) for one real LIBERO task under the given preset; the env
    renders `cameras` (default: the preset's), and is None when build is False."""
    from envs.presets import load_preset_file
    from envs.registry import find_suite, get_benchmark

    benchmark = get_benchmark("libero")
    task = find_suite(benchmark, suite).tasks[task_index]
    preset = load_preset_file(preset_path)
    if not build:
        return benchmark, task, preset, None
    return benchmark, task, preset, benchmark.make_env(task, preset, cameras=cameras or preset.render.cameras)


def libero_observation(preset_path: Path) -> Observation:
    """One real LIBERO observation, frames rendered, as the harness would send it."""
    from harness.api.types import EpisodeKey

    _, task, _, env = libero_task_env(preset_path)
    try:
        key = EpisodeKey("libero", task.suite, task.name, "default", 0)
        return env.reset(key, render=True).observation
    finally:
        env.close()
