"""Stores for report tests: synthetic EpisodeResults written through the real ResultStore (the same
open_run / add_planned / put_episode path the driver uses), with outcomes chosen by the test."""

from __future__ import annotations

import socket
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

from envs.presets import Preset, preset_from_mapping, resolve_preset
from harness.api.types import EndReason, EpisodeKey, EpisodeResult, EpisodeTimings
from harness.driver import policy_record
from harness.spec import run_id_for, run_identity
from harness.store import ResultStore, RunManifest
from policies.base import PolicyInfo

VERSIONS = {"python": "3.11", "mujoco": "3.x", "robosuite": "1.4.0"}


def robotwin_preset(name: str = "robotwin-test") -> Preset:
    return preset_from_mapping(
        {
            "name": name,
            "version": 1,
            "benchmark": "robotwin",
            "description": "test stand-in",
            "source": "tests",
            "official": False,
            "max_steps": {},
            "max_steps_default": 400,
            "warmup_steps": 0,
            "replan_steps": 24,
            "render": {"cameras": ["head_camera"], "height": 240, "width": 320},
            "episodes_per_task": 100,
            "env_seed": 42,
            "settings": ["clean", "randomized"],
        }
    )


def make_manifest(
    preset: Preset,
    *,
    policy: str = "scripted",
    checkpoint: str = "ckpt-a",
    trained: bool = True,
    benchmark: str | None = None,
) -> RunManifest:
    info = PolicyInfo(name=policy, action_dim=7, horizon=10, checkpoint_digest=checkpoint, trained=trained)
    identity = run_identity(policy=info, preset=preset, versions=VERSIONS, seed=0, options={}, checkpoint=None)
    return RunManifest(
        run_id=run_id_for(policy=info, preset=preset, identity=identity),
        identity=identity,
        benchmark=benchmark or preset.benchmark,
        policy_name=info.name,
        checkpoint_digest=checkpoint,
        preset_name=preset.name,
        preset_hash=preset.hash,
        preset=preset.content(),
        versions=VERSIONS,
        policy=policy_record(info),
        spec={"benchmark": preset.benchmark, "policy": policy, "device": "cpu"},
        host=socket.gethostname(),
    )


def result(
    key: EpisodeKey,
    success: bool,
    *,
    steps: int = 100,
    seed: int | None = None,
    calls: int = 3,
    error: bool = False,
    extra: dict | None = None,
) -> EpisodeResult:
    return EpisodeResult(
        key=key,
        success=success and not error,
        steps=steps,
        end_reason=EndReason.ERROR if error else (EndReason.SUCCESS if success else EndReason.HORIZON),
        error="RuntimeError: boom" if error else None,
        policy_calls=calls,
        warmup_steps=10,
        timings=EpisodeTimings(
            env_ms=2.0 * steps,
            render_ms=30.0 * calls,
            policy_ms=12.0 * calls,
            queue_ms=1.0 * calls,
            total_ms=2.0 * steps + 43.0 * calls + 50.0,
            reset_ms=40.0,
        ),
        seed=seed,
        extra={"calls": [{"policy_ms": 12.0, "queue_ms": 1.0}] * calls, **(extra or {})},
        worker="test",
        node="test",
    )


def write_run(
    store_path: Path,
    manifest: RunManifest,
    planned: Sequence[EpisodeKey],
    outcome: Callable[[EpisodeKey], EpisodeResult | None],
) -> str:
    """Plan `planned`, store outcome(key) for each key where it is not None; returns the run id."""
    with ResultStore(store_path) as store:
        invocation = store.open_run(manifest, argv=["wam-eval", "run", "(test)"])
        store.add_planned(manifest.run_id, planned)
        for key in planned:
            res = outcome(key)
            if res is not None:
                assert store.put_episode(manifest.run_id, res)
        store.close_invocation(invocation, "complete")
    return manifest.run_id


def libero_keys(
    suites: Iterable[str] = ("libero_spatial", "libero_object", "libero_goal", "libero_10"),
    tasks: int = 2,
    episodes: int = 5,
) -> list[EpisodeKey]:
    return [
        EpisodeKey("libero", s, f"{s}_task{t}", "default", e)
        for s in suites
        for t in range(tasks)
        for e in range(episodes)
    ]


def robotwin_keys(
    tasks: Sequence[str], episodes: int, settings: Sequence[str] = ("clean", "randomized"), suite: str = "robotwin2"
) -> list[EpisodeKey]:
    return [EpisodeKey("robotwin", suite, t, s, e) for t in tasks for s in settings for e in range(episodes)]


def libero_preset(name: str = "openpi-libero") -> Preset:
    return resolve_preset(name)


def renamed(preset: Preset, name: str, **changes) -> Preset:
    return replace(preset, name=name, **changes)


SHORT_LIBERO_PRESET = """\
extends = "openpi-libero"
name = "ci-libero-short"
description = "tests only: openpi-libero with 2 warm-up steps, {max_steps} policy steps on Object, 128 px frames"
source = "tests/report_data.py"
official = false
warmup_steps = 2

[max_steps]
libero_object = {max_steps}

[render]
height = 128
width = 128
"""


def short_libero_preset_file(folder: Path, max_steps: int = 20) -> Path:
    """A LIBERO preset small enough for CI (libero_object only): real frames, a few policy calls
    per episode (openpi-libero replans every 5 steps)."""
    path = folder / "ci-libero-short.toml"
    path.write_text(SHORT_LIBERO_PRESET.format(max_steps=max_steps))
    return path
