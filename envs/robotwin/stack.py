"""The installed RoboTwin stack, as facts a run records: planner builds, asset revision, GPU and driver.

RoboTwin numbers move with more than the task code: the expert's planner (cuRobo or mplib, with toppra
time-parametrising every motion) decides which seeds are accepted, SAPIEN's build changes physics and
frames, the asset snapshot changes objects, and the GPU and its driver change frames. Everything here
is read without importing the packages (cuRobo imports torch and CUDA) and never raises: a fact that
cannot be read is recorded as such.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Mapping

from envs.versions import NOT_INSTALLED, installed_version
from harness.api.version import git_commit

# cuRobo's distribution has been published under these names (NVIDIA's setup.py: nvidia_curobo).
CUROBO_DISTS = ("nvidia-curobo", "nvidia_curobo", "curobo")
ASSET_MANIFEST = ".robotwin-assets.json"  # written by the runtime's robotwin-download-assets
HUB_METADATA = Path(".cache") / "huggingface" / "download"  # huggingface_hub's local_dir bookkeeping


def curobo_build(find_spec: Callable[[str], Any] = importlib.util.find_spec) -> tuple[str, str]:
    """(version, commit) of the installed cuRobo. cuRobo is installed from a git clone (NVIDIA publishes
    no wheel); its version carries the commit as `+g<sha>` when built from one, else the clone says."""
    version = installed_version(*CUROBO_DISTS)
    spec = find_spec("curobo")
    if version == NOT_INSTALLED and spec is None:
        return NOT_INSTALLED, NOT_INSTALLED
    found = re.search(r"\+g([0-9a-f]{7,40})", version)
    if found:
        return version, found.group(1)[:7]
    origin = getattr(spec, "origin", None) if spec is not None else None
    # The clone holding the package (a checkout's .git sits some folders above curobo/__init__.py).
    clone = next((d for d in Path(origin).parents if (d / ".git").exists()), None) if origin else None
    commit = git_commit(clone, length=7, mark_dirty=False) if clone else None
    return (version if version != NOT_INSTALLED else "unknown"), commit or "unknown"


def asset_revision(root: Path) -> str:
    """Which RoboTwin asset snapshot `root` (the directory holding assets/) holds: the hub revision the
    runtime's downloader recorded, else the one huggingface_hub's download bookkeeping recorded (RoboTwin's
    own script/_download_assets.sh), else 'unrecorded'."""
    manifest = root / ASSET_MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        if isinstance(data, dict) and data.get("revision"):
            return f"{data.get('repository', 'hub')}@{str(data['revision'])[:12]}"
    except (OSError, ValueError):
        pass
    for meta in sorted((root / HUB_METADATA).glob("*.metadata")):
        try:
            first = meta.read_text(encoding="utf-8").splitlines()[0].strip()
        except (OSError, IndexError):
            continue
        if re.fullmatch(r"[0-9a-f]{40}", first):
            return f"hub@{first[:12]}"
    return f"unrecorded (no {ASSET_MANIFEST} in {root})"


def standin_revision(root: Path) -> str:
    """The CPU stand-in's build: the fingerprint its builder wrote (what it was built for)."""
    from envs.robotwin.standin import MARKER

    try:
        made = json.loads((root / MARKER).read_text(encoding="utf-8"))
        return f"standin {made.get('fingerprint', 'unknown')} (mani-skill {made.get('mani_skill', 'unknown')})"
    except (OSError, ValueError):
        return "standin (not built)"


def gpu_facts(render_device: str, run: Callable[..., Any] = subprocess.run) -> dict[str, str]:
    """The device SAPIEN renders with and its driver: nvidia-smi's driver version on an NVIDIA GPU, the Mesa
    package's version on a software (lavapipe) or other Mesa device. Recorded with a run, not part of its
    identity: runs on two machines of the same stack stay one run."""
    driver = "unknown"
    queries = []
    if shutil.which("nvidia-smi"):
        queries.append(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"])
    if shutil.which("dpkg-query") and "nvidia" not in render_device.lower():
        queries.append(["dpkg-query", "-W", "-f=Mesa ${Version}", "mesa-vulkan-drivers"])
    for argv in queries:
        try:
            out = run(argv, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            continue
        text = (out.stdout or "").strip().splitlines()
        if out.returncode == 0 and text:
            driver = text[0].strip()
            break
    return {"gpu": render_device, "gpu_driver": driver}


def planner_build(planner: str, versions: Mapping[str, str]) -> str:
    """The build of the planner the expert runs with, from recorded versions: what changes its verdicts
    besides the task code and SAPIEN (toppra time-parametrises every planned motion, whichever planner)."""
    if planner == "curobo":
        own = f"curobo {versions.get('curobo', NOT_INSTALLED)} {versions.get('curobo_commit', NOT_INSTALLED)}"
    else:
        own = f"{planner} {versions.get(planner, NOT_INSTALLED)}"
    return f"{own}; mplib {versions.get('mplib', NOT_INSTALLED)}; toppra {versions.get('toppra', NOT_INSTALLED)}"
