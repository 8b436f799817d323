"""What each benchmark's Fast-WAM checkpoint expects at its input and output, as the official
evaluation scripts build it (experiments/libero/eval_libero_single.py,
experiments/robotwin/fastwam_policy/deploy_policy.py)."""

from __future__ import annotations

from dataclasses import dataclass

from harness.api.errors import UsageError
from harness.api.types import Tile


@dataclass(frozen=True)
class BenchmarkLayout:
    benchmark: str
    height: int
    width: int
    tiles: tuple[Tile, ...]
    state_dim: int
    action_dim: int
    norm_mode: str  # "minmax" or "zscore", for both state and action
    gripper_index: int | None  # LIBERO's gripper post-processing applies to this action dim
    preset: str

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(t.camera for t in self.tiles)


# Each camera's frame is resized (PIL bilinear) into its tile. LIBERO's official script centre-crops to
# the box's aspect first, a no-op for its square 256x256 renders; RoboTwin's resizes 320x240 frames
# straight into 320x256 / 160x128.
LIBERO = BenchmarkLayout(
    benchmark="libero",
    height=224,
    width=448,
    tiles=(
        Tile("agentview", 0, 0, 224, 224),
        Tile("robot0_eye_in_hand", 0, 224, 224, 224),
    ),
    state_dim=8,
    action_dim=7,
    norm_mode="minmax",
    gripper_index=6,
    preset="fastwam-libero",
)

ROBOTWIN = BenchmarkLayout(
    benchmark="robotwin",
    height=384,
    width=320,
    tiles=(
        Tile("head_camera", 0, 0, 256, 320),
        Tile("left_camera", 256, 0, 128, 160),
        Tile("right_camera", 256, 160, 128, 160),
    ),
    state_dim=14,
    action_dim=14,
    norm_mode="zscore",
    gripper_index=None,
    preset="fastwam-robotwin",
)

LAYOUTS = {layout.benchmark: layout for layout in (LIBERO, ROBOTWIN)}
PREFERRED_PRESETS = {name: layout.preset for name, layout in LAYOUTS.items()}


def layout_for(benchmark: str) -> BenchmarkLayout:
    try:
        return LAYOUTS[benchmark]
    except KeyError:
        raise UsageError(
            f"Fast-WAM has no input layout for benchmark {benchmark!r}; known: {', '.join(sorted(LAYOUTS))}"
        ) from None
