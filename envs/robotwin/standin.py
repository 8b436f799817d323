"""The CPU stand-in's assets, made by this project from installed packages (no model hub).

RoboTwin's task code needs an embodiment directory (URDF, SRDF, meshes, a RoboTwin config.yml) and a
few object index files even for tasks that use no object mesh. The stand-in builds:

  <root>/assets/embodiments/franka-panda/
      panda.urdf            mani-skill's panda_v2.urdf plus a fixed `camera` link on the hand (the
                            link RoboTwin mounts each wrist camera on)
      panda.srdf            mani-skill's panda_v2.srdf (collision pairs for mplib)
      franka_description/   mani-skill's meshes
      config.yml            RoboTwin's embodiment config, written here (values below)
      curobo_{left,right}_tmp.yml   placeholders: the runtime reads them even with the mplib planner
  <root>/assets/objects/objaverse/list.json, <root>/assets/objects/same.json   empty indexes
  <root>/.wam-eval-standin.json   what was built, from what, for which parameters

RoboTwin's task configs then name the embodiment as ["franka-panda", "franka-panda", distance]: two
single-arm robots loaded from one URDF (one file, so the mplib planner serves both arms).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Mapping

import yaml

from envs.versions import installed_version
from harness.api.errors import MissingDependencyError

EMBODIMENT = "franka-panda"
MARKER = ".wam-eval-standin.json"
MANI_SKILL_PIN = "mani-skill==3.0.1"
ENV_DIR = "WAM_EVAL_ROBOTWIN_STANDIN"  # where the stand-in lives; default under the user's cache
SETUP_HINT = "wam-eval setup robotwin-ci"

# Franka Panda values of RoboTwin's own Franka embodiment (its documentation's config.yml): joint
# names, home pose, frames. gripper_bias differs: mani-skill's hand frame sits at the flange.
PANDA_ARM_JOINTS = [f"panda_joint{i}" for i in range(1, 8)]
PANDA_HOME = [0.0, 0.19634954084936207, 0.0, -2.617993877991494, 0.0, 2.941592653589793, 0.7853981633974483]
# The wrist camera's mount on the hand: 6 cm off the hand's axis (across the fingers' travel), turned by
# 21.8 degrees towards the axis so that both fingertips and what they hold are in view. SAPIEN cameras
# look along their +x; this rotation takes +x to the direction of the point 15 cm down the hand's axis.
WRIST_CAMERA_MOUNT = {"xyz": "0.06 0 0", "rpy": "0 -1.951 0"}
HEAD_CAMERA = {"name": "head_camera", "position": [0.0, -0.45, 1.35], "forward": [0.0, 0.6, -0.8], "left": [-1.0, 0.0, 0.0]}


def default_dir() -> Path:
    value = os.environ.get(ENV_DIR, "").strip()
    if value:
        return Path(value).expanduser().resolve()
    cache = Path(os.environ.get("XDG_CACHE_HOME", "") or Path.home() / ".cache")
    return (cache / "wam-eval" / "robotwin-standin").resolve()


def panda_source(find_spec=importlib.util.find_spec) -> Path:
    """mani-skill's Franka Panda directory, found without importing mani_skill (its deps are absent)."""
    spec = find_spec("mani_skill")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the Franka Panda files of the stand-in come from the mani-skill wheel, which is not installed; "
            f"install it with: pip install --no-deps {MANI_SKILL_PIN}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "assets" / "robots" / "panda"
    for name in ("panda_v2.urdf", "panda_v2.srdf", "franka_description"):
        if not (path / name).exists():
            raise MissingDependencyError(f"mani-skill at {path.parent.parent.parent} lacks robots/panda/{name}; "
                                         f"install it with: pip install --no-deps {MANI_SKILL_PIN}")
    return path


def embodiment_config(params: Mapping[str, Any]) -> dict[str, Any]:
    """RoboTwin's config.yml for the stand-in arm, from the preset's [params.standin]."""
    standin = dict(params.get("standin", {}))
    base_y = float(standin.get("robot_base_y", -0.65))
    pose = [0.0, base_y, 0.75, 0.707, 0.0, 0.0, 0.707]  # on the table top, facing +y
    gripper = {"base": "panda_finger_joint1", "mimic": [["panda_finger_joint2", 1.0, 0.0]]}
    return {
        "urdf_path": "./panda.urdf",
        "srdf_path": "./panda.srdf",
        "joint_stiffness": 1000,
        "joint_damping": 200,
        "gripper_stiffness": 1000,
        "gripper_damping": 200,
        "move_group": ["panda_hand", "panda_hand"],
        "ee_joints": ["panda_hand_joint", "panda_hand_joint"],
        "arm_joints_name": [list(PANDA_ARM_JOINTS), list(PANDA_ARM_JOINTS)],
        "gripper_name": [dict(gripper), dict(gripper)],
        "gripper_bias": float(standin.get("gripper_bias", 0.12)),
        "gripper_scale": [0.0, 0.04],
        "homestate": [list(PANDA_HOME), list(PANDA_HOME)],
        "delta_matrix": [[0, 0, 1], [0, -1, 0], [1, 0, 0]],
        "global_trans_matrix": [[1, 0, 0], [0, -1, 0], [0, 0, -1]],
        "robot_pose": [list(pose), list(pose)],
        "planner": "mplib_RRT",
        "dual_arm": False,
        "rotate_lim": [0.1, 0.8],
        "grasp_perfect_direction": ["right", "left"],
        "static_camera_list": [dict(HEAD_CAMERA)],
    }


def fingerprint(params: Mapping[str, Any]) -> str:
    body = {"config": embodiment_config(params), "wrist_camera": WRIST_CAMERA_MOUNT, "format": 2}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _panda_urdf_with_camera(src: Path, dst: Path) -> None:
    tree = ET.parse(src)
    robot = tree.getroot()
    if robot.find("link[@name='camera']") is None:
        ET.SubElement(robot, "link", name="camera")
        joint = ET.SubElement(robot, "joint", name="camera_joint", type="fixed")
        ET.SubElement(joint, "origin", rpy=WRIST_CAMERA_MOUNT["rpy"], xyz=WRIST_CAMERA_MOUNT["xyz"])
        ET.SubElement(joint, "parent", link="panda_hand")
        ET.SubElement(joint, "child", link="camera")
    tree.write(dst, encoding="unicode")


def build(root: Path, params: Mapping[str, Any], *, panda_dir: Path | None = None) -> Path:
    """Write the stand-in under `root` (replacing an older one atomically) and return `root`."""
    panda = panda_dir or panda_source()
    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
    try:
        emb = staging / "assets" / "embodiments" / EMBODIMENT
        emb.mkdir(parents=True)
        shutil.copytree(panda / "franka_description", emb / "franka_description")
        _panda_urdf_with_camera(panda / "panda_v2.urdf", emb / "panda.urdf")
        shutil.copy(panda / "panda_v2.srdf", emb / "panda.srdf")
        (emb / "config.yml").write_text(yaml.safe_dump(embodiment_config(params), sort_keys=False))
        for arm in ("left", "right"):
            # Read by the runtime's set_planner whatever the planner; only cuRobo would use it.
            (emb / f"curobo_{arm}_tmp.yml").write_text(yaml.safe_dump({"robot_cfg": {"unused": "mplib planner only"}}))
        objects = staging / "assets" / "objects"
        (objects / "objaverse").mkdir(parents=True)
        (objects / "objaverse" / "list.json").write_text(
            json.dumps({"item_names": [], "list_of_items": {}, "z_max": {}, "radius": {}, "z_offset": {}})
        )
        (objects / "same.json").write_text("{}")
        marker = {
            "fingerprint": fingerprint(params),
            "panda_source": str(panda),
            "mani_skill": installed_version("mani-skill"),
            "made_by": "wam-eval envs/robotwin/standin.py",
        }
        (staging / MARKER).write_text(json.dumps(marker, indent=1, sort_keys=True))
        if root.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{root.name}-old-", dir=root.parent))
            os.replace(root, old / root.name)
            os.replace(staging, root)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, root)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return root


def check(root: Path, params: Mapping[str, Any]) -> None:
    """MissingDependencyError unless `root` holds a stand-in built for these parameters."""
    marker = root / MARKER
    if not marker.is_file():
        raise MissingDependencyError(f"the RoboTwin CPU stand-in is not built (no {marker}); build it with: {SETUP_HINT}")
    made = json.loads(marker.read_text())
    if made.get("fingerprint") != fingerprint(params):
        raise MissingDependencyError(
            f"the RoboTwin CPU stand-in at {root} was built for other parameters; rebuild it with: {SETUP_HINT}"
        )
    if not (root / "assets" / "embodiments" / EMBODIMENT / "config.yml").is_file():
        raise MissingDependencyError(f"the RoboTwin CPU stand-in at {root} is incomplete; rebuild it with: {SETUP_HINT}")
