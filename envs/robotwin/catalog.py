"""What RoboTwin 2.0 is, as data: its 50 tasks, its settings, its seed rule (no simulator needed).

The task names are RoboTwin 2.0's task modules (one class per task, named like its module); the step
limits live in the protocol presets (envs/presets/robotwin2-*.toml), copied from RoboTwin's
task_config/_eval_step_limit.yml, where a task that is not listed gets 1000. Tests compare both
against the installed runtime.
"""

from __future__ import annotations

from typing import Any, Mapping

from envs.base import SuiteInfo
from harness.api.errors import UsageError
from harness.api.types import TaskInfo

BENCHMARK = "robotwin"

# The 50 tasks of RoboTwin 2.0 (Table 1 averages over all of them), alphabetical.
TASKS: tuple[str, ...] = (
    "adjust_bottle",
    "beat_block_hammer",
    "blocks_ranking_rgb",
    "blocks_ranking_size",
    "click_alarmclock",
    "click_bell",
    "dump_bin_bigbin",
    "grab_roller",
    "handover_block",
    "handover_mic",
    "hanging_mug",
    "lift_pot",
    "move_can_pot",
    "move_pillbottle_pad",
    "move_playingcard_away",
    "move_stapler_pad",
    "open_laptop",
    "open_microwave",
    "pick_diverse_bottles",
    "pick_dual_bottles",
    "place_a2b_left",
    "place_a2b_right",
    "place_bread_basket",
    "place_bread_skillet",
    "place_burger_fries",
    "place_can_basket",
    "place_cans_plasticbox",
    "place_container_plate",
    "place_dual_shoes",
    "place_empty_cup",
    "place_fan",
    "place_mouse_pad",
    "place_object_basket",
    "place_object_scale",
    "place_object_stand",
    "place_phone_stand",
    "place_shoe",
    "press_stapler",
    "put_bottles_dustbin",
    "put_object_cabinet",
    "rotate_qrcode",
    "scan_object",
    "shake_bottle",
    "shake_bottle_horizontally",
    "stack_blocks_three",
    "stack_blocks_two",
    "stack_bowls_three",
    "stack_bowls_two",
    "stamp_seal",
    "turn_switch",
)

# Tasks whose scene holds only primitive shapes (boxes built in code, no object meshes), so that they
# run without RoboTwin's 16.6 GB of assets: the tasks of the CPU stand-in preset.
PRIMITIVE_TASKS: tuple[str, ...] = ("stack_blocks_two", "stack_blocks_three", "blocks_ranking_rgb", "blocks_ranking_size")

# The settings of Table 1 and the RoboTwin task configs that define them.
SETTINGS: tuple[str, ...] = ("clean", "randomized")
DEFAULT_TASK_CONFIGS = {"clean": "demo_clean", "randomized": "demo_randomized"}

OFFICIAL_ACTION_DIM = 14  # aloha-agilex: 6 joints + gripper per arm
EPISODES_PER_TASK = 100  # RoboTwin's eval: the first 100 seeds the scripted expert solves
DEFAULT_STEP_LIMIT = 1000  # what RoboTwin's Base_Task uses for a task missing from _eval_step_limit.yml
SEED_STRIDE = 100000  # eval_policy.py: st_seed = 100000 * (1 + seed)

# Suites: all 50 tasks (Table 1), and the block tasks alone (the CPU stand-in; not a paper suite).
SUITE_ALL = "robotwin2"
SUITE_PRIMITIVES = "primitives"


def first_candidate_seed(seed: int, stride: int = SEED_STRIDE) -> int:
    """The first simulator seed tried for protocol seed `seed` (RoboTwin's eval_policy.py)."""
    if seed < 0:
        raise UsageError(f"the RoboTwin protocol seed must be >= 0, not {seed}")
    return stride * (1 + seed)


def action_dim(params: Mapping[str, Any]) -> int:
    """The action size under a preset's params: 14 on aloha-agilex, 16 on the dual-Franka stand-in."""
    return int(params.get("action_dim", OFFICIAL_ACTION_DIM))


def describe(task: str) -> str:
    """A task's readable name. The instruction a policy reads is chosen per episode (see env.py)."""
    return task.replace("_", " ")


def _task_info(suite: str, name: str, index: int) -> TaskInfo:
    return TaskInfo(
        benchmark=BENCHMARK,
        suite=suite,
        name=name,
        index=index,
        instruction=describe(name),
        episodes=EPISODES_PER_TASK,
        settings=SETTINGS,
    )


def build_suites() -> tuple[SuiteInfo, ...]:
    all_tasks = tuple(_task_info(SUITE_ALL, name, i) for i, name in enumerate(TASKS))
    primitives = tuple(_task_info(SUITE_PRIMITIVES, name, i) for i, name in enumerate(PRIMITIVE_TASKS))
    return (
        SuiteInfo(SUITE_ALL, "RoboTwin 2.0", all_tasks, in_paper=True),
        SuiteInfo(SUITE_PRIMITIVES, "Block tasks (CPU stand-in)", primitives, in_paper=False),
    )
