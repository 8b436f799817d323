from __future__ import annotations

import os

import pytest

from envs.headless import select_mujoco_gl
from harness.api.errors import MissingDependencyError


def test_a_working_backend_is_chosen_and_exported(monkeypatch):
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "WAM_EVAL_MUJOCO_GL"):  # restored after the test
        monkeypatch.delenv(name, raising=False)
    backend = select_mujoco_gl()
    assert backend in ("egl", "osmesa")
    assert os.environ["MUJOCO_GL"] == backend == os.environ["PYOPENGL_PLATFORM"]


def test_no_working_backend_names_the_debian_packages(monkeypatch):
    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "WAM_EVAL_MUJOCO_GL"):  # restored after the test
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(MissingDependencyError) as err:
        select_mujoco_gl(candidates=("no-such-gl",))
    message = str(err.value)
    assert "no-such-gl" in message and "apt-get install -y libegl1 libgl1-mesa-dri libosmesa6" in message
    assert "\n" not in message


def test_osmesa_is_the_fallback_and_renders_real_frames(monkeypatch, tmp_path):
    """With EGL unusable, the harness falls back to OSMesa (Debian's libosmesa6, which tox installs)
    and LIBERO renders through it; checked in a fresh process, since the choice precedes imports."""
    import subprocess
    import sys
    import textwrap

    for name in ("MUJOCO_GL", "PYOPENGL_PLATFORM", "WAM_EVAL_MUJOCO_GL"):  # restored after the test
        monkeypatch.delenv(name, raising=False)
    assert select_mujoco_gl(candidates=("no-such-gl", "osmesa")) == "osmesa"
    script = textwrap.dedent("""
        import numpy as np
        from envs.libero import LiberoBenchmark
        from envs.presets import resolve_preset
        from harness.api.types import EpisodeKey
        bench, preset = LiberoBenchmark(), resolve_preset("openpi-libero")
        task = bench.suites()[0].tasks[0]
        env = bench.make_env(task, preset, cameras=("agentview",))
        img = env.reset(EpisodeKey("libero", task.suite, task.name, "default", 0), render=True).observation.images["agentview"]
        env.close()
        import json
        print(json.dumps({"shape": list(img.shape), "std": float(img.std()), "gl": bench.versions()["mujoco_gl"]}))
    """)
    env = dict(os.environ)  # MUJOCO_GL=osmesa, exported by the call above
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import json

    frame = json.loads(proc.stdout.strip().splitlines()[-1])
    assert frame["shape"] == [256, 256, 3] and frame["std"] > 5.0 and frame["gl"] == "osmesa"
