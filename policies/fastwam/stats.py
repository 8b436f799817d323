"""Where a checkpoint's dataset statistics are, and the transforms a Fast-WAM policy declares.

The file format and the normalisation itself belong to the harness (policies/dataset_stats.py,
policies/transforms.py); they match the official normaliser: min/max to [-1, 1] (a dim whose range
is under 1e-4 is only shifted), z-score with std + 1e-8, the state clamped to [-5, 5], the actions
not clamped on the way back.
"""

from __future__ import annotations

from pathlib import Path

from harness.api.errors import UsageError
from policies.dataset_stats import DatasetStats, FieldStats
from policies.fastwam.layouts import BenchmarkLayout
from policies.transforms import TransformSpec

STATE_CLIP = 5.0


def identity_stats(state_dim: int, action_dim: int) -> DatasetStats:
    """For untrained models: min/max -1..1 leaves values exactly as they are, z-score 0/1 within 1e-8."""

    def field(dim: int) -> FieldStats:
        return FieldStats(min=(-1.0,) * dim, max=(1.0,) * dim, mean=(0.0,) * dim, std=(1.0,) * dim)

    return DatasetStats(state=field(state_dim), action=field(action_dim), source="identity (untrained model)", digest="identity")


def find_stats_file(checkpoint: str | Path) -> Path | None:
    """`<stem>_dataset_stats.json` beside the checkpoint (the released naming), else
    `dataset_stats.json` in its folder or up to three folders above (where the official eval looks)."""
    ckpt = Path(checkpoint)
    beside = ckpt.with_name(f"{ckpt.stem}_dataset_stats.json")
    if beside.is_file():
        return beside
    for folder in list(ckpt.resolve().parents)[:4]:
        candidate = folder / "dataset_stats.json"
        if candidate.is_file():
            return candidate
    return None


def check_dims(stats: DatasetStats, layout: BenchmarkLayout, action_dim: int, proprio_dim: int) -> None:
    if len(stats.action.min) != action_dim or len(stats.state.min) != proprio_dim:
        raise UsageError(
            f"statistics {stats.source} are for {len(stats.state.min)}-D state / {len(stats.action.min)}-D actions, "
            f"the checkpoint for {proprio_dim}-D / {action_dim}-D"
        )
    if action_dim != layout.action_dim or proprio_dim != layout.state_dim:
        raise UsageError(
            f"this checkpoint takes {proprio_dim}-D state and predicts {action_dim}-D actions; "
            f"{layout.benchmark} has {layout.state_dim}-D state and {layout.action_dim}-D actions"
        )


def input_transforms(layout: BenchmarkLayout, stats: DatasetStats) -> tuple[TransformSpec, ...]:
    compose = TransformSpec(
        "compose_cameras",
        {"key": "image", "height": layout.height, "width": layout.width, "tiles": [t.as_params() for t in layout.tiles]},
    )
    return (compose, stats.normalize_state(layout.norm_mode, clip=STATE_CLIP))


def output_transforms(layout: BenchmarkLayout, stats: DatasetStats) -> tuple[TransformSpec, ...]:
    specs = [stats.unnormalize_actions(layout.norm_mode)]
    if layout.gripper_index is not None:
        specs.append(TransformSpec("libero_gripper", {"index": layout.gripper_index}))
    return tuple(specs)
