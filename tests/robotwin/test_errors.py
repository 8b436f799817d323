"""What a user without the runtime, the assets or a Vulkan device is told, before anything starts."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from envs.presets import builtin_presets
from envs.probe import ProbeResult
from envs.registry import get_benchmark
from envs.robotwin import backend, standin
from harness.api.errors import MissingDependencyError


def hide(*names, present=(), packages=None):
    """find_spec that hides `names`, reports `present` as installed, and `packages` (name -> directory)
    as packages at those directories; anything else is looked up for real."""
    real = importlib.util.find_spec
    packages = dict(packages or {})

    class Spec:
        def __init__(self, path=None):
            self.submodule_search_locations = [str(path)] if path else None

    def find_spec(name, *args, **kwargs):
        top = name.split(".")[0]
        if top in names:
            return None
        if top in packages:
            return Spec(packages[top])
        if top in present:
            return Spec()
        return real(name, *args, **kwargs)

    return find_spec


def fake_checkout(root: Path) -> Path:
    (root / "envs").mkdir(parents=True)
    (root / "envs" / "_base_task.py").write_text("class Base_Task:\n    pass\n")
    return root


def checkout_with_assets(root: Path) -> Path:
    """A checkout with the official assets' directories in it and its embodiment table."""
    fake_checkout(root)
    (root / "task_config").mkdir()
    (root / "task_config" / "_embodiment_config.yml").write_text(
        "aloha-agilex:\n  file_path: ./assets/embodiments/aloha-agilex\n")
    for sub in ("objects", "embodiments/aloha-agilex", "background_texture"):
        (root / "assets" / sub).mkdir(parents=True)
    return root


@pytest.fixture
def probes(monkeypatch):
    """Replaces the Vulkan probe with one that fails, and counts its calls."""
    calls = []

    def failing(environ):
        calls.append(environ)
        return ProbeResult(False, "no Vulkan device", "")

    monkeypatch.setattr(backend, "_probe_render", failing)
    return calls


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text, "errors print as one line"
    return text


def test_missing_runtime_names_the_install_command():
    with pytest.raises(MissingDependencyError) as exc:
        backend.locate_backend(environ={}, find_spec=hide("robotwin"))
    text = one_line(exc)
    assert "rlinf-robotwin-runtime" in text and "pip install --no-deps rlinf-robotwin-runtime==0.1.3" in text


def test_missing_sapien_names_the_install_command(tmp_path):
    pkg = tmp_path / "robotwin"
    (pkg / "envs").mkdir(parents=True)
    (pkg / "envs" / "_base_task.py").write_text("")

    class Spec:
        submodule_search_locations = [str(pkg)]

    def find_spec(name, *a, **k):
        return Spec() if name == "robotwin" else None

    with pytest.raises(MissingDependencyError, match=r"sapien==3\.0\.3 .* install it with: bash scripts/install_robotwin.sh"):
        backend.locate_backend(environ={}, find_spec=find_spec)


def test_a_wrong_checkout_is_named(tmp_path):
    with pytest.raises(MissingDependencyError, match=f"ROBOTWIN_ROOT={tmp_path} is not a RoboTwin 2.0 checkout"):
        backend.locate_backend(environ={"ROBOTWIN_ROOT": str(tmp_path)})


def test_a_checkout_is_found_and_its_task_modules_load(tmp_path, monkeypatch):
    """The checkout's `envs` package shares its name with ours; its modules load through our package."""
    root = tmp_path / "RoboTwin"
    (root / "envs").mkdir(parents=True)
    (root / "envs" / "_base_task.py").write_text("class Base_Task:\n    pass\n")
    (root / "envs" / "zz_fake_task.py").write_text(
        "from ._base_task import Base_Task\nimport envs._base_task as absolute\n"
        "class zz_fake_task(Base_Task):\n    same = absolute.Base_Task is Base_Task\n"
    )
    (root / "task_config").mkdir()
    (root / "task_config" / "demo_clean.yml").write_text("episode_num: 50\n")
    import envs

    monkeypatch.setattr(envs, "__path__", list(envs.__path__))
    found = backend.locate_backend(environ={"ROBOTWIN_ROOT": str(root)}, find_spec=hide(present=("sapien", "mplib")))
    assert found.kind == "checkout" and found.root == root.resolve()
    cls = found.task_class("zz_fake_task")
    assert cls.__name__ == "zz_fake_task" and cls.same
    assert found.load_config("demo_clean") == {"episode_num": 50}
    import envs.registry  # ours still resolve to ours

    assert Path(envs.registry.__file__).parent == Path(envs.__file__).parent
    sys.modules.pop("envs.zz_fake_task", None)
    sys.modules.pop("envs._base_task", None)


@pytest.mark.parametrize("missing, dist", [("sapien", "sapien==3.0.3"), ("mplib", "mplib==0.2.1")])
def test_a_checkout_without_sapien_or_mplib_names_the_package(tmp_path, missing, dist):
    root = fake_checkout(tmp_path / "RoboTwin")
    with pytest.raises(MissingDependencyError) as exc:
        backend.locate_backend(environ={"ROBOTWIN_ROOT": str(root)},
                               find_spec=hide(missing, present=("sapien", "mplib")))
    text = one_line(exc)
    assert text.startswith(f"{dist} (needed by the RoboTwin checkout at {root}) is not installed")
    assert "install it with: pip install -e '.[robotwin]'" in text


def test_check_available_with_a_checkout_but_no_sapien_is_not_a_vulkan_error(tmp_path, monkeypatch, probes):
    """Without SAPIEN the render probe would fail on its import and blame the Vulkan driver."""
    root = checkout_with_assets(tmp_path / "RoboTwin")
    (root / "assets" / "embodiments" / "aloha-agilex" / "curobo.yml").write_text("robot_cfg: {}\n")
    monkeypatch.chdir(root)  # a checkout opens its assets relative to the working directory
    monkeypatch.setenv("ROBOTWIN_ROOT", str(root))
    for var in ("ROBOTWIN_ASSETS", "ROBOTWIN_ASSETS_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", hide("sapien", present=("mplib", "curobo")))
    with pytest.raises(MissingDependencyError) as exc:
        get_benchmark("robotwin").check_available(builtin_presets()["robotwin2-official"])
    text = one_line(exc)
    assert text.startswith("sapien==3.0.3 (needed by the RoboTwin checkout") and "Vulkan" not in text
    assert probes == [], "the render probe did not run"
    # With SAPIEN there, the same checkout gets as far as the device.
    monkeypatch.setattr(importlib.util, "find_spec", hide(present=("sapien", "mplib", "curobo", "h5py")))
    with pytest.raises(MissingDependencyError, match="SAPIEN cannot open a Vulkan rendering device"):
        get_benchmark("robotwin").check_available(builtin_presets()["robotwin2-official"])
    assert len(probes) == 1


def test_check_available_reports_the_runtime_then_the_assets_then_cuRobo_then_the_render_device(
        tmp_path, monkeypatch, probes):
    """Each step has everything after it missing too: the first missing thing is the one named."""
    bench, official = get_benchmark("robotwin"), builtin_presets()["robotwin2-official"]
    runtime = fake_checkout(tmp_path / "site" / "robotwin")
    assets = tmp_path / "data"
    for var in ("ROBOTWIN_ROOT", "ROBOTWIN_ASSETS", "ROBOTWIN_ASSETS_ROOT"):
        monkeypatch.delenv(var, raising=False)

    def first_missing(find_spec) -> str:
        monkeypatch.setattr(importlib.util, "find_spec", find_spec)
        with pytest.raises(MissingDependencyError) as exc:
            bench.check_available(official)
        return one_line(exc)

    everything = {"present": ("sapien", "mplib", "curobo"), "packages": {"robotwin": runtime}}
    assert "RoboTwin's runtime (rlinf-robotwin-runtime) is not installed" in first_missing(
        hide("robotwin", "curobo", present=("sapien", "mplib")))
    assert "RoboTwin's assets are not configured (ROBOTWIN_ASSETS is unset)" in first_missing(
        hide("curobo", present=("sapien", "mplib"), packages={"robotwin": runtime}))
    monkeypatch.setenv("ROBOTWIN_ASSETS", str(assets))
    (assets / "assets" / "objects").mkdir(parents=True)
    assert "missing assets/embodiments/aloha-agilex, assets/background_texture" in first_missing(
        hide("curobo", present=("sapien", "mplib"), packages={"robotwin": runtime}))
    (assets / "assets" / "embodiments" / "aloha-agilex").mkdir(parents=True)
    (assets / "assets" / "background_texture").mkdir(parents=True)
    assert "plans the expert with cuRobo" in first_missing(hide("curobo", present=("sapien", "mplib"),
                                                                packages={"robotwin": runtime}))
    assert probes == [], "nothing before the last step opened a Vulkan device"
    last = first_missing(hide(**everything))
    assert last.startswith("SAPIEN cannot open a Vulkan rendering device (no Vulkan device)")
    assert len(probes) == 1


def test_unset_assets_name_the_download():
    with pytest.raises(MissingDependencyError) as exc:
        backend.official_assets_root(environ={})
    text = one_line(exc)
    assert "ROBOTWIN_ASSETS is unset" in text and "robotwin-download-assets --output DIR" in text
    assert "TianxingChen/RoboTwin2.0" in text


def test_incomplete_assets_list_what_is_missing(tmp_path):
    (tmp_path / "assets" / "objects").mkdir(parents=True)
    assert backend.official_assets_root(environ={"ROBOTWIN_ASSETS": str(tmp_path)}) == tmp_path.resolve()
    with pytest.raises(MissingDependencyError, match="missing assets/embodiments/aloha-agilex, assets/background_texture"):
        backend.check_official_assets(tmp_path, ("aloha-agilex",), settings_need_textures=True)
    (tmp_path / "assets" / "embodiments" / "aloha-agilex").mkdir(parents=True)
    backend.check_official_assets(tmp_path, ("aloha-agilex",), settings_need_textures=False)


def test_standin_not_built_names_the_setup_command(tmp_path):
    params = builtin_presets()["robotwin2-primitives"].params
    with pytest.raises(MissingDependencyError, match="not built .* wam-eval setup robotwin-ci"):
        standin.check(tmp_path / "nothing", params)


def test_check_available_raises_before_anything_runs(monkeypatch, tmp_path):
    """The order: runtime, then assets; each with its command (the Vulkan check is tested on SAPIEN)."""
    bench = get_benchmark("robotwin")
    presets = builtin_presets()
    monkeypatch.setattr(importlib.util, "find_spec", hide("robotwin"))
    with pytest.raises(MissingDependencyError, match="rlinf-robotwin-runtime"):
        bench.check_available(presets["robotwin2-official"])


def test_cli_run_without_runtime_or_assets_prints_one_line_and_stores_nothing(tmp_path):
    """In a fresh environment nothing of RoboTwin is set up: `wam-eval run` stops at once with exit code 2."""
    code = (
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda n, *a, **k: None if n.split('.')[0] == 'robotwin' else real(n, *a, **k)\n"
        "from harness.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    store = tmp_path / "store.sqlite"
    proc = subprocess.run(
        [sys.executable, "-c", code, "run", "--benchmark", "robotwin", "--suite", "robotwin2", "--tasks", "0",
         "--episodes", "1", "--policy", "noop", "--store", str(store)],
        capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "ROBOTWIN_ASSETS": ""},
    )
    assert proc.returncode == 2, proc.stderr + proc.stdout
    lines = [ln for ln in (proc.stderr + proc.stdout).strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "rlinf-robotwin-runtime" in lines[0], lines
    assert not store.exists(), "nothing was stored: the check ran before the run opened"


def test_setup_robotwin_ci_without_the_runtime_names_the_install_command(monkeypatch, capsys):
    from harness.cli import main

    monkeypatch.setattr(importlib.util, "find_spec", hide("robotwin"))
    monkeypatch.delenv("ROBOTWIN_ROOT", raising=False)
    assert main(["setup", "robotwin-ci", "--no-apt"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "rlinf-robotwin-runtime" in err and "bash scripts/install_robotwin.sh" in err, err


def test_standin_build_from_panda_files(tmp_path):
    """The stand-in's embodiment, built from a minimal copy of mani-skill's Panda layout."""
    panda = tmp_path / "panda"
    (panda / "franka_description" / "meshes").mkdir(parents=True)
    (panda / "franka_description" / "meshes" / "link0.stl").write_text("solid\n")
    (panda / "panda_v2.urdf").write_text('<robot name="panda"><link name="panda_hand"/></robot>')
    (panda / "panda_v2.srdf").write_text('<robot name="panda"/>')
    params = builtin_presets()["robotwin2-primitives"].params
    root = standin.build(tmp_path / "standin", params, panda_dir=panda)
    standin.check(root, params)
    emb = root / "assets" / "embodiments" / "franka-panda"
    import xml.etree.ElementTree as ET

    import yaml

    urdf = ET.parse(emb / "panda.urdf").getroot()
    joint = urdf.find("joint[@name='camera_joint']")
    assert joint.find("parent").get("link") == "panda_hand" and joint.find("child").get("link") == "camera"
    config = yaml.safe_load((emb / "config.yml").read_text())
    assert config["arm_joints_name"][0] == [f"panda_joint{i}" for i in range(1, 8)]
    assert config["gripper_bias"] == 0.12 and config["robot_pose"][0][1] == -0.65 and config["dual_arm"] is False
    assert config["static_camera_list"][0]["name"] == "head_camera"
    assert yaml.safe_load((emb / "curobo_left_tmp.yml").read_text())["robot_cfg"]
    assert json.loads((root / "assets" / "objects" / "objaverse" / "list.json").read_text())["item_names"] == []
    assert json.loads((root / "assets" / "objects" / "same.json").read_text()) == {}
    assert (emb / "franka_description" / "meshes" / "link0.stl").is_file()
    other = dict(params, standin={"robot_base_y": -0.5, "gripper_bias": 0.12})
    with pytest.raises(MissingDependencyError, match="built for other parameters"):
        standin.check(root, other)
    standin.build(root, other, panda_dir=panda)  # rebuilt in place
    standin.check(root, other)
    assert len(list(tmp_path.iterdir())) == 2, "no staging directories left behind"


def test_a_checkout_names_what_it_alone_needs_in_order_before_the_render_device(tmp_path, monkeypatch, probes):
    """bf44be5 (the Fast-WAM authors' commit) imports h5py and cuRobo whatever the planner, opens its
    assets relative to the working directory, and reads the cuRobo configs that upstream's
    script/update_embodiment_config_path.py writes: each is named, in that order, before any Vulkan probe."""
    root = checkout_with_assets(tmp_path / "RoboTwin")
    for var in ("ROBOTWIN_ASSETS", "ROBOTWIN_ASSETS_ROOT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("ROBOTWIN_ROOT", str(root))
    monkeypatch.setattr(envs_package(), "__path__", list(envs_package().__path__))
    bench, official = get_benchmark("robotwin"), builtin_presets()["robotwin2-official"]

    def first_missing(*hidden) -> str:
        monkeypatch.setattr(importlib.util, "find_spec", hide(*hidden, present=("sapien", "mplib", "h5py", "curobo")))
        with pytest.raises(MissingDependencyError) as exc:
            bench.check_available(official)
        return one_line(exc)

    assert first_missing("h5py", "curobo").startswith(f"h5py (imported by the RoboTwin checkout at {root}) is not installed")
    assert "cuRobo" in first_missing("curobo") and "_install.sh" in first_missing("curobo")
    monkeypatch.chdir(tmp_path)
    assert f"opens its assets relative to the working directory, and {tmp_path} holds no assets/" in first_missing()
    monkeypatch.chdir(root)
    message = first_missing()
    assert "has no cuRobo config (curobo.yml" in message and "update_embodiment_config_path.py" in message
    (root / "assets" / "embodiments" / "aloha-agilex" / "curobo.yml").write_text("robot_cfg: {}\n")
    assert probes == []
    assert first_missing().startswith("SAPIEN cannot open a Vulkan rendering device")


def envs_package():
    import envs

    return envs
