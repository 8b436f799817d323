"""`wam-eval setup robotwin-ci`: make this machine run the RoboTwin CPU stand-in.

Steps, each skipped when already done:
  1. RoboTwin's runtime and its real needs importable (installed by scripts/install_robotwin.sh);
  2. a Vulkan device for SAPIEN: on Debian 12 without a GPU that is Mesa 25's lavapipe from
     bookworm-backports (Debian 12's own Mesa 22 lavapipe fails); installed with apt when running as
     root, otherwise the error names the command;
  3. the stand-in's assets built from installed packages (envs/robotwin/standin.py).
The command line is envs/robotwin/commands.py (`wam-eval setup`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Callable

from envs import probe
from envs.presets import resolve_preset
from envs.robotwin import backend, standin
from harness.api.errors import MissingDependencyError

PRESET = "robotwin2-primitives"
BACKPORTS_LIST = Path("/etc/apt/sources.list.d/wam-eval-bookworm-backports.list")
BACKPORTS_LINE = "deb http://deb.debian.org/debian bookworm-backports main\n"


def _has_backports() -> bool:
    for path in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        try:
            if "bookworm-backports" in path.read_text():
                return True
        except (OSError, UnicodeDecodeError):
            continue
    return False


def _debian_codename() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("VERSION_CODENAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return ""


def install_lavapipe(log: Callable[[str], None] = print) -> None:
    """apt-get the backports Mesa Vulkan drivers (root on Debian 12 only)."""
    if shutil.which("apt-get") is None or _debian_codename() != "bookworm":
        raise MissingDependencyError(f"no usable Vulkan device, and this is not Debian 12 with apt; {backend.RENDER_HINT}")
    if os.geteuid() != 0:
        raise MissingDependencyError(f"no usable Vulkan device, and installing one needs root; {backend.RENDER_HINT}")
    if not _has_backports():
        log(f"adding Debian bookworm-backports to the apt sources ({BACKPORTS_LIST})")
        BACKPORTS_LIST.write_text(BACKPORTS_LINE)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"],
                ["apt-get", "install", "-y", "-qq", "-t", "bookworm-backports", "mesa-vulkan-drivers"]):
        log("$ " + " ".join(cmd))
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [f"exit code {proc.returncode}"]
            raise MissingDependencyError(f"`{' '.join(cmd)}` failed ({tail[0]}); {backend.RENDER_HINT}")


def run_setup(target: str | Path | None = None, *, preset_name: str = PRESET, apt: bool = True,
              log: Callable[[str], None] = print) -> Path:
    """Prepare this machine for the stand-in preset; return the stand-in directory."""
    preset = resolve_preset(preset_name)
    t0 = time.perf_counter()
    # The code first: without SAPIEN the render probe would blame the Vulkan driver.
    found = backend.locate_backend()
    log(f"RoboTwin code: {found.kind} {found.version} at {found.root}")
    reason = backend.probe_render_device()
    if reason is not None:
        log(f"SAPIEN finds no Vulkan device ({reason})")
        if not apt:
            raise MissingDependencyError(f"SAPIEN cannot open a Vulkan rendering device ({reason}); {backend.RENDER_HINT}")
        install_lavapipe(log)
        probe.forget()
        backend.check_render_device()
    log(f"rendering: ok ({time.perf_counter() - t0:.1f} s)")
    root = Path(target).expanduser().resolve() if target else standin.default_dir()
    try:
        standin.check(root, preset.params)
        log(f"stand-in assets: up to date at {root}")
    except MissingDependencyError:
        standin.build(root, preset.params)
        standin.check(root, preset.params)
        log(f"stand-in assets: built at {root} from {standin.panda_source()}")
    log(f"done in {time.perf_counter() - t0:.1f} s; preset {preset.name} is ready (suite 'primitives')")
    return root
