"""Where RoboTwin's code, assets and renderer come from, and one clear error when one is missing.

Two code backends:
  - "runtime": the `rlinf-robotwin-runtime` wheel from PyPI (import name `robotwin`): all 50 tasks,
    the task configs and instruction templates packaged, assets outside the package;
  - "checkout": a RoboTwin 2.0 git checkout at ROBOTWIN_ROOT (envs/, task_config/, description/).
Assets: RoboTwin's snapshot (embodiments, objects, textures) at ROBOTWIN_ASSETS (the directory that
holds `assets/`), or the project-made CPU stand-in (`wam-eval setup robotwin-ci`).
Rendering: SAPIEN needs a Vulkan device; on a CPU that is Mesa's lavapipe, new enough (Mesa 25).

Nothing here imports SAPIEN into the caller's process: the render check runs in a subprocess, so a
broken driver cannot take the driver process down, and it runs before any worker starts.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import os
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from envs.probe import ProbeResult, probe
from envs.versions import installed_version
from harness.api.errors import MissingDependencyError

RUNTIME_DIST = "rlinf-robotwin-runtime"
RUNTIME_VERSION = "0.1.3"
RUNTIME_MODULE = "robotwin"
# The runtime's own pins (torch 2.8, sapien 3.0.0b1, gymnasium 0.29.1) clash with this project and
# with LIBERO, so it goes in without them, on top of its real needs.
INSTALL_HINT = "bash scripts/install_robotwin.sh (pip install -e '.[robotwin]' && " \
    f"pip install --no-deps {RUNTIME_DIST}=={RUNTIME_VERSION} mani-skill==3.0.1)"
# A checkout brings RoboTwin's code but none of its packages; the extra holds them (sapien, mplib, ...).
CHECKOUT_INSTALL_HINT = "pip install -e '.[robotwin]' (in the wam-eval directory)"
SIMULATOR_DISTS = (("sapien", "sapien==3.0.3"), ("mplib", "mplib==0.2.1"))  # (import name, pinned dist)
ASSET_REPOSITORY = "TianxingChen/RoboTwin2.0"  # model-hub dataset the runtime's downloader reads
ASSETS_HINT = (
    f"on a machine that reaches the model hub run `robotwin-download-assets --output DIR` (from {RUNTIME_DIST}; "
    f"hub dataset {ASSET_REPOSITORY}, about 16.6 GB) or RoboTwin's script/_download_assets.sh, copy DIR here "
    "and export ROBOTWIN_ASSETS=DIR"
)
RENDER_HINT = (
    "install Mesa 25's software Vulkan driver (lavapipe) from Debian bookworm-backports: add "
    "'deb http://deb.debian.org/debian bookworm-backports main' to the apt sources, then "
    "apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers "
    "(or run `wam-eval setup robotwin-ci`, which does this), or use a machine with a GPU and its Vulkan driver"
)

ENV_ROOT = "ROBOTWIN_ROOT"  # a RoboTwin checkout
ENV_ASSETS = "ROBOTWIN_ASSETS"  # the directory holding assets/ (the runtime calls it ROBOTWIN_ASSETS_ROOT)
ENV_RUNTIME_ASSETS = "ROBOTWIN_ASSETS_ROOT"

# Asset directories a task run needs, by what the preset asks for.
OFFICIAL_ASSET_DIRS = ("assets/embodiments", "assets/objects", "assets/background_texture")


@dataclass(frozen=True)
class Backend:
    """RoboTwin's code: how to import a task, read a packaged config, phrase an instruction."""

    kind: str  # "runtime" | "checkout"
    root: Path  # the `robotwin` package directory, or the checkout
    version: str
    package: str  # import prefix of the task modules: "robotwin.envs" or "envs"

    @property
    def config_dir(self) -> Path:
        if self.kind == "runtime":
            return self.root / "configs" / "task"
        for candidate in ("task_config", "env_cfg/task_config"):
            if (self.root / candidate).is_dir():
                return self.root / candidate
        return self.root / "task_config"

    def load_config(self, name: str) -> dict[str, Any]:
        path = self.config_dir / f"{name}.yml"
        if not path.is_file():
            raise MissingDependencyError(f"RoboTwin task config {name!r} not found at {path}")
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh)
        if not isinstance(data, dict):
            raise MissingDependencyError(f"RoboTwin task config {path} is not a mapping")
        return data

    def task_class(self, task: str) -> type:
        """The task's class (RoboTwin names each class like its module)."""
        self._prepare_import()
        module = _quiet_import(f"{self.package}.{task}")
        return getattr(module, task)

    def unstable_error(self) -> type:
        self._prepare_import()
        return _quiet_import(f"{self.package}.utils.create_actor").UnStableError

    def descriptions(self, task: str, info: Mapping[str, str], count: int, seed: int) -> dict[str, list[str]]:
        """RoboTwin's instruction candidates for one episode ({'seen': [...], 'unseen': [...]}).

        Upstream draws placeholders with Python's global `random`, unseeded; here that draw runs on a
        generator seeded with `seed` and the global state is restored afterwards."""
        if self.kind == "runtime":
            generate = _quiet_import("robotwin.description").generate_episode_descriptions
        else:
            path = self.root / "description" / "utils"
            if str(path) not in sys.path:
                sys.path.append(str(path))
            generate = _quiet_import("generate_episode_instructions").generate_episode_descriptions
        state = random.getstate()
        try:
            random.seed(seed)
            out = generate(task, [dict(info)], count)
        finally:
            random.setstate(state)
        if not out:
            raise ValueError(f"RoboTwin has no instruction for {task} with episode info {dict(info)}")
        return {"seen": list(out[0].get("seen", [])), "unseen": list(out[0].get("unseen", []))}

    def embodiment_dir(self, assets: Path, name: str) -> Path:
        table = self.load_config("_embodiment_config")
        try:
            rel = table[name]["file_path"]
        except KeyError:
            raise MissingDependencyError(f"RoboTwin knows no embodiment {name!r} (task_config/_embodiment_config.yml)") from None
        return (assets / rel).resolve()

    def _prepare_import(self) -> None:
        if self.kind == "checkout":
            _mount_checkout(self.root)


def _quiet_import(name: str):
    """Import a RoboTwin module without its import-time chatter (the planner module prints a traceback
    when cuRobo is absent, which is expected with the mplib planner)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return importlib.import_module(name)


def _mount_checkout(root: Path) -> None:
    """A RoboTwin checkout's task code lives in a top-level package named `envs`, the name of this
    project's own package, and imports itself absolutely (`import envs._GLOBAL_CONFIGS`). Its modules
    have no names in common with ours, so the checkout's directory is appended to our package's search
    path: `envs.stack_blocks_two` then resolves to the checkout's file, ours stay ours."""
    import envs

    path = str(root / "envs")
    if path not in envs.__path__:
        envs.__path__.append(path)


def locate_backend(environ: Mapping[str, str] | None = None,
                   find_spec: Callable[[str], Any] | None = None) -> Backend:
    """ROBOTWIN_ROOT (a checkout) if set, else the installed runtime; MissingDependencyError if neither."""
    environ = os.environ if environ is None else environ
    find_spec = find_spec or importlib.util.find_spec
    root = environ.get(ENV_ROOT, "").strip()
    if root:
        path = Path(root).expanduser()
        if not (path / "envs" / "_base_task.py").is_file():
            raise MissingDependencyError(
                f"{ENV_ROOT}={root} is not a RoboTwin 2.0 checkout (no envs/_base_task.py); point it at the "
                f"directory of `git clone https://github.com/RoboTwin-Platform/RoboTwin`, or unset it to use {RUNTIME_DIST}"
            )
        # Checked here, not left to the render probe: without SAPIEN the probe fails on the import
        # and would send the user to the Vulkan driver.
        _check_simulator(find_spec, f"the RoboTwin checkout at {root}", CHECKOUT_INSTALL_HINT)
        return Backend("checkout", path.resolve(), _checkout_version(path), "envs")
    spec = find_spec(RUNTIME_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(f"RoboTwin's runtime ({RUNTIME_DIST}) is not installed; install it with: {INSTALL_HINT}")
    pkg = Path(list(spec.submodule_search_locations)[0])
    if not (pkg / "envs" / "_base_task.py").is_file():
        raise MissingDependencyError(
            f"the installed `{RUNTIME_MODULE}` package at {pkg} is not {RUNTIME_DIST}; install it with: {INSTALL_HINT}"
        )
    _check_simulator(find_spec, RUNTIME_DIST, INSTALL_HINT)
    return Backend("runtime", pkg, installed_version(RUNTIME_DIST), "robotwin.envs")


def _check_simulator(find_spec: Callable[[str], Any], needed_by: str, hint: str) -> None:
    for module, dist in SIMULATOR_DISTS:
        if find_spec(module) is None:
            raise MissingDependencyError(f"{dist} (needed by {needed_by}) is not installed; install it with: {hint}")


def _checkout_version(root: Path) -> str:
    """The checkout's commit, abbreviated to 7 hex digits as RoboTwin's and the papers' references give it
    (the Fast-WAM authors evaluated on bf44be5), so a run records `robotwin_code: checkout bf44be5`."""
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown commit"
    sha = out.stdout.strip()
    return sha[:7] if out.returncode == 0 and sha else "unknown commit"


# -- assets ------------------------------------------------------------------------------------------
def official_assets_root(environ: Mapping[str, str] | None = None, backend: Backend | None = None) -> Path:
    """ROBOTWIN_ASSETS (or the runtime's ROBOTWIN_ASSETS_ROOT), else a checkout's own directory."""
    environ = os.environ if environ is None else environ
    for var in (ENV_ASSETS, ENV_RUNTIME_ASSETS):
        value = environ.get(var, "").strip()
        if value:
            return Path(value).expanduser().resolve()
    if backend is not None and backend.kind == "checkout":
        return backend.root
    raise MissingDependencyError(f"RoboTwin's assets are not configured ({ENV_ASSETS} is unset); {ASSETS_HINT}")


def check_official_assets(root: Path, embodiments: tuple[str, ...], settings_need_textures: bool) -> None:
    needed = ["assets/objects"] + [f"assets/embodiments/{e}" for e in embodiments]
    if settings_need_textures:
        needed.append("assets/background_texture")
    missing = [d for d in needed if not (root / d).is_dir()]
    if missing:
        raise MissingDependencyError(
            f"RoboTwin's assets are incomplete at {root} (missing {', '.join(missing)}); {ASSETS_HINT}"
        )


# -- a RoboTwin checkout (bf44be5, the Fast-WAM authors' commit) ------------------------------------
# What a checkout needs beyond this project's `robotwin` extra: upstream's requirements (h5py, imported by
# its task package at import time) and cuRobo, which envs/robot/robot.py imports at module level and
# Robot.set_planner builds for every embodiment (the checkout has no mplib-only planner backend).
CHECKOUT_IMPORTS = (
    ("h5py", "pip install h5py (RoboTwin's script/requirements.txt)"),
    ("curobo", "install NVIDIA cuRobo (CUDA) as RoboTwin's script/_install.sh does: git clone "
               "https://github.com/NVlabs/curobo && pip install -e curobo --no-build-isolation"),
)
CUROBO_CONFIG_HINT = "run `python script/update_embodiment_config_path.py` in the directory holding assets/"


def check_checkout(found: Backend, assets: Path, embodiment_dirs: list[Path], *,
                   find_spec: Callable[[str], Any] | None = None, cwd: Path | None = None) -> None:
    """What a checkout needs that the runtime does not: its imports, its working directory, the cuRobo
    configs. Checked after the assets, before the render device."""
    find_spec = find_spec or importlib.util.find_spec
    cwd = (cwd or Path.cwd()).resolve()
    for module, hint in CHECKOUT_IMPORTS:
        if find_spec(module) is None:
            raise MissingDependencyError(f"{module} (imported by the RoboTwin checkout at {found.root}) is not "
                                         f"installed; {hint}")
    # Upstream opens its assets relative to the working directory ("./assets/objects/...", some at import
    # time): workers run where wam-eval was started.
    if (cwd / "assets").resolve() != (assets / "assets").resolve():
        raise MissingDependencyError(
            f"the RoboTwin checkout at {found.root} opens its assets relative to the working directory, and "
            f"{cwd} holds no assets/ of {assets}; run wam-eval from {assets}"
        )
    for directory in embodiment_dirs:
        names = ("curobo.yml", "curobo_left.yml", "curobo_right.yml")
        if not any((directory / n).is_file() for n in names):
            raise MissingDependencyError(
                f"the embodiment at {directory} has no cuRobo config ({' / '.join(names)}, written from "
                f"curobo_tmp.yml with the assets' absolute path); {CUROBO_CONFIG_HINT}"
            )


# -- rendering ---------------------------------------------------------------------------------------
_PROBE = (
    "import sapien\n"
    "sapien.render.SapienRenderer()\n"
    "s = sapien.Scene()\n"
    "c = s.add_camera('probe', 16, 16, 1.0, 0.1, 10.0)\n"
    "s.update_render(); c.take_picture(); c.get_picture('Color')\n"
    "summary = sapien.render.get_device_summary() if hasattr(sapien.render, 'get_device_summary') else ''\n"
    "print('DEVICE', (summary.splitlines() or ['unknown'])[0].removeprefix('GPU:').strip())\n"
)


def _probe_render(environ: Mapping[str, str] | None) -> ProbeResult:
    return probe(_PROBE, environ, timeout=180, keywords=("rror", "vulkan", "device"), what="opening a Vulkan device")


def probe_render_device(environ: Mapping[str, str] | None = None) -> str | None:
    """None if SAPIEN can open a Vulkan device and render a frame (in a subprocess), else why not."""
    result = _probe_render(environ)
    return None if result.ok else result.reason


def render_device_name(environ: Mapping[str, str] | None = None) -> str:
    """The Vulkan device SAPIEN renders with ('llvmpipe (LLVM 15.0.6, 256 bits)' on the CPU stand-in)."""
    result = _probe_render(environ)
    if not result.ok:
        return f"none ({result.reason})"
    device = [ln[len("DEVICE "):] for ln in result.stdout.splitlines() if ln.startswith("DEVICE ")]
    return device[-1] if device else "unknown"


def check_render_device(environ: Mapping[str, str] | None = None) -> None:
    reason = probe_render_device(environ)
    if reason is not None:
        raise MissingDependencyError(f"SAPIEN cannot open a Vulkan rendering device ({reason}); {RENDER_HINT}")
