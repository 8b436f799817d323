"""Headless OpenGL for MuJoCo, chosen by the harness: EGL first, OSMesa as the fallback.

MUJOCO_GL (and PyOpenGL's platform, which robosuite's render contexts use) must be set before
mujoco or robosuite is imported, and a wrong choice only shows up as a crash deep inside the first
render. So each candidate is probed in a short subprocess that creates a context (envs/probe.py),
and the choice is exported to the environment, where Ray workers and subprocesses inherit it.
"""

from __future__ import annotations

import os

from envs.probe import probe
from harness.api.errors import MissingDependencyError

PROBED_MARK = "WAM_EVAL_MUJOCO_GL"  # set once a backend has been probed in this process tree

# The Debian packages that provide each backend's library.
DEBIAN_PACKAGES = {"egl": "libegl1 libgl1-mesa-dri", "osmesa": "libosmesa6"}

_PROBE = "import mujoco\nctx = mujoco.GLContext(16, 16)\nctx.make_current()\nctx.free()\n"


def _probe(backend: str) -> str | None:
    """None if `backend` can make a context, else the last line of what it printed."""
    result = probe(_PROBE, dict(os.environ, MUJOCO_GL=backend, PYOPENGL_PLATFORM=backend), what="creating a context")
    return None if result.ok else result.reason


def select_mujoco_gl(candidates: tuple[str, ...] = ("egl", "osmesa")) -> str:
    """Pick a working headless backend, export it, and return its name.

    A backend the user already exported in MUJOCO_GL is tried first; the harness still checks it.
    """
    chosen = os.environ.get(PROBED_MARK)
    if chosen and chosen == os.environ.get("MUJOCO_GL"):
        return chosen
    requested = os.environ.get("MUJOCO_GL", "").strip().lower()
    order = ([requested] if requested and requested not in candidates else []) + list(candidates)
    if requested in candidates:
        order = [requested] + [c for c in candidates if c != requested]
    failures = []
    for backend in order:
        reason = _probe(backend)
        if reason is None:
            os.environ["MUJOCO_GL"] = backend
            os.environ["PYOPENGL_PLATFORM"] = backend
            os.environ[PROBED_MARK] = backend
            return backend
        failures.append(f"{backend}: {reason}")
    packages = " ".join(DEBIAN_PACKAGES.values())
    raise MissingDependencyError(
        "no headless OpenGL for MuJoCo rendering (" + "; ".join(failures) + "); "
        f"install the Debian packages with: apt-get install -y {packages}"
    )
