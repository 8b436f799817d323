"""The Fast-WAM authors' evaluation protocol: its presets, the policy-side transforms it needs, and a
real LIBERO episode run under it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from envs.libero import LiberoBenchmark
from envs.presets import diff_presets, resolve_preset
from harness.api.errors import UsageError
from harness.api.types import ActionChunk, EndReason, EpisodeKey, Observation
from harness.driver import check_policy
from harness.rollout import LocalPolicyClient, RolloutPlan, run_episode
from policies.base import PolicyContext, PolicyInfo
from policies.dataset_stats import DatasetStats
from policies.transforms import TransformSpec, apply_transforms
from tests.policies_for_tests import Scripted

LIBERO_LAYOUT = {
    "key": "image", "height": 224, "width": 448,
    "tiles": [
        {"camera": "agentview", "top": 0, "left": 0, "height": 224, "width": 224},
        {"camera": "robot0_eye_in_hand", "top": 0, "left": 224, "height": 224, "width": 224},
    ],
}
ROBOTWIN_LAYOUT = {
    "key": "image", "height": 384, "width": 320,
    "tiles": [
        {"camera": "head_camera", "top": 0, "left": 0, "height": 256, "width": 320},
        {"camera": "left_camera", "top": 256, "left": 0, "height": 128, "width": 160},
        {"camera": "right_camera", "top": 256, "left": 160, "height": 128, "width": 160},
    ],
}


def test_fastwam_libero_values_per_suite():
    p = resolve_preset("fastwam-libero")
    steps = {s: p.max_steps_for(s, "t") for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")}
    assert steps == {"libero_spatial": 400, "libero_object": 400, "libero_goal": 400, "libero_10": 700, "libero_90": 700}
    assert (p.warmup_steps, p.env_seed, p.action_horizon, p.replan_steps, p.episodes_per_task) == (30, 42, 32, 10, 50)
    assert p.image_layout == {"kind": "composed", **LIBERO_LAYOUT}
    assert p.official


def test_diff_fastwam_openpi_lists_only_the_protocol_differences():
    fields = {name for name, _, _ in diff_presets(resolve_preset("fastwam-libero"), resolve_preset("openpi-libero"))}
    max_steps = {f"max_steps.{s}" for s in ("libero_spatial", "libero_object", "libero_goal", "libero_10", "libero_90")}
    # env_seed differs in the sources too (openpi seeds its envs with 7, the Fast-WAM script with 42).
    assert fields == max_steps | {"warmup_steps", "replan_steps", "action_horizon", "image_layout", "env_seed"}


def test_cli_presets_diff_and_show():
    run = lambda *a: subprocess.run([sys.executable, "-m", "harness.cli", "presets", *a], capture_output=True, text=True)
    diff = run("diff", "fastwam-libero", "openpi-libero")
    assert diff.returncode == 0, diff.stderr
    text = " ".join(re.sub(r"[\u2500-\u257f]", " ", diff.stdout).split())  # drop the table's box drawing
    for needle in ("max_steps.libero_spatial 400 220", "warmup_steps 30 10", "replan_steps 10 5", "composed 224x448"):
        assert needle in text
    assert "episodes_per_task" not in text and "render." not in text
    show = run("show", "fastwam-libero")
    assert show.returncode == 0 and "warmup_steps: 30" in show.stdout and "hash" in show.stdout
    listed = run()
    assert "fastwam-libero" in listed.stdout and "openpi-libero" in listed.stdout
    bad = run("show", "nope")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "unknown preset 'nope'" in bad.stderr


def _coded_frame(height: int, width: int, camera_id: int) -> np.ndarray:
    """Red = which camera, green = row, blue = column: the composed image tells where each pixel came from."""
    rows = np.linspace(0, 255, height).astype(np.uint8)[:, None].repeat(width, 1)
    cols = np.linspace(0, 255, width).astype(np.uint8)[None, :].repeat(height, 0)
    return np.stack([np.full((height, width), camera_id * 40, np.uint8), rows, cols], axis=-1)


@pytest.mark.parametrize("layout, sizes", [
    (LIBERO_LAYOUT, {"agentview": (256, 256), "robot0_eye_in_hand": (256, 256)}),
    (ROBOTWIN_LAYOUT, {"head_camera": (240, 320), "left_camera": (240, 320), "right_camera": (240, 320)}),
])
def test_compose_cameras_puts_each_camera_at_its_place_and_size(layout, sizes):
    images = {cam: _coded_frame(h, w, i + 1) for i, (cam, (h, w)) in enumerate(sizes.items())}
    obs = Observation(images=images, state=np.zeros(8), instruction="x")
    out = apply_transforms(obs, [TransformSpec("compose_cameras", layout)])
    assert list(out.images) == ["image"]
    img = out.images["image"]
    assert img.shape == (layout["height"], layout["width"], 3)
    covered = np.zeros(img.shape[:2], bool)
    for i, tile in enumerate(layout["tiles"]):
        box = img[tile["top"]:tile["top"] + tile["height"], tile["left"]:tile["left"] + tile["width"]]
        assert np.all(box[..., 0] == (list(sizes).index(tile["camera"]) + 1) * 40), tile["camera"]
        # the whole source frame, resized: its first row/col start dark, its last row/col end bright
        assert box[0, :, 1].max() <= 3 and box[-1, :, 1].min() >= 252
        assert box[:, 0, 2].max() <= 3 and box[:, -1, 2].min() >= 252
        covered[tile["top"]:tile["top"] + tile["height"], tile["left"]:tile["left"] + tile["width"]] = True
    assert covered.all(), "the layout tiles the whole image"


def test_compose_cameras_names_a_missing_camera():
    obs = Observation(images={"agentview": _coded_frame(8, 8, 1)}, state=np.zeros(8), instruction="x")
    with pytest.raises(KeyError, match="robot0_eye_in_hand"):
        apply_transforms(obs, [TransformSpec("compose_cameras", LIBERO_LAYOUT)])


def _stats_file(tmp_path, dim_state, dim_action, rng):
    def block(d):
        lo = rng.uniform(-2, 0, d)
        hi = lo + rng.uniform(0.5, 3, d)
        hi[0] = lo[0]  # one constant dimension, handled as the official normaliser does
        return {"global_min": lo.tolist(), "global_max": hi.tolist(), "global_mean": ((lo + hi) / 2).tolist(),
                "global_std": rng.uniform(0.1, 1, d).tolist(), "global_q01": lo.tolist(), "global_q99": hi.tolist()}

    path = tmp_path / "dataset_stats.json"
    path.write_text(json.dumps({"state": {"default": block(dim_state)}, "action": {"default": block(dim_action)},
                                "num_episodes": 3, "num_transition": 30}))
    return path


@pytest.mark.parametrize("mode", ["minmax", "zscore"])
def test_normalisation_round_trips_with_a_stats_file(mode, tmp_path):
    rng = np.random.default_rng(0)
    stats = DatasetStats.from_json(_stats_file(tmp_path, 8, 8, rng))
    lo, hi = np.array(stats.state.min), np.array(stats.state.max)
    state = rng.uniform(lo, hi + 1e-9)
    obs = Observation(images={}, state=state.astype(np.float32), instruction="x")
    normed = apply_transforms(obs, [stats.normalize_state(mode)]).state
    if mode == "minmax":
        assert np.all(normed[1:] >= -1 - 1e-6) and np.all(normed[1:] <= 1 + 1e-6)
        assert normed[0] == pytest.approx(state[0] - lo[0], abs=1e-6)  # constant dim: x - min
    else:
        expected = np.clip((state - stats.state.mean) / (np.array(stats.state.std) + 1e-8), -5, 5)
        np.testing.assert_allclose(normed, expected, rtol=1e-5, atol=1e-6)
    # the action side inverts the same formula: feed normalised actions, get the raw ones back
    actions = rng.uniform(np.array(stats.action.min), np.array(stats.action.max) + 1e-9, size=(32, 8))
    from policies.transforms import normalize

    params = stats.action.params(mode)
    chunk = ActionChunk(normalize(actions, **params, clip=None))
    back = apply_transforms(chunk, [stats.unnormalize_actions(mode)]).actions
    np.testing.assert_allclose(back, actions, rtol=1e-6, atol=1e-9)


def test_normalisation_clips_at_five_and_checks_width(tmp_path):
    stats = DatasetStats.from_json(_stats_file(tmp_path, 8, 8, np.random.default_rng(1)))
    far = np.array(stats.state.max) + 100.0
    out = apply_transforms(Observation({}, far.astype(np.float32), "x"), [stats.normalize_state("minmax")]).state
    assert np.all(out[1:] == 5.0)
    with pytest.raises(ValueError, match="state has 7 dims; the normalisation statistics have 8"):
        apply_transforms(Observation({}, np.zeros(7, np.float32), "x"), [stats.normalize_state("zscore")])


def test_stats_file_errors_name_the_file_and_key(tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"state": {"default": {"global_min": [0]}}}))
    with pytest.raises(UsageError, match=r"lacks state.default.global_max"):
        DatasetStats.from_json(path)
    with pytest.raises(UsageError, match="does not exist"):
        DatasetStats.from_json(tmp_path / "none.json")


def test_libero_gripper_post_processing_on_hand_picked_values():
    g = np.array([0.0, 1.0, 0.3, 0.7, 0.5])
    actions = np.zeros((5, 7))
    actions[:, 6] = g
    actions[:, 0] = [0.1, 0.2, 0.3, 0.4, 0.5]
    out = apply_transforms(ActionChunk(actions), [TransformSpec("libero_gripper", {"index": 6})]).actions
    # dataset 0 = close -> env +1 (close); 1 = open -> env -1 (open); exactly 0.5 -> sign(0) = 0
    np.testing.assert_array_equal(out[:, 6], [1.0, -1.0, 1.0, -1.0, 0.0])
    np.testing.assert_array_equal(out[:, 0], actions[:, 0])
    soft = apply_transforms(ActionChunk(actions), [TransformSpec("libero_gripper", {"index": 6, "binarize": False})]).actions
    np.testing.assert_allclose(soft[:, 6], 1 - 2 * g)


def test_a_policy_composing_another_layout_is_refused():
    preset = resolve_preset("fastwam-libero")
    bench = LiberoBenchmark()
    wrong = dict(LIBERO_LAYOUT, tiles=list(reversed(LIBERO_LAYOUT["tiles"])))
    info = PolicyInfo(name="swapped", action_dim=7, horizon=32, input_transforms=(TransformSpec("compose_cameras", wrong),))
    with pytest.raises(UsageError, match="preset fastwam-libero feeds the policy composed 224x448"):
        check_policy(info, bench, preset)
    right = PolicyInfo(name="ok", action_dim=7, horizon=32, input_transforms=(TransformSpec("compose_cameras", LIBERO_LAYOUT),))
    check_policy(right, bench, preset)
    with pytest.raises(UsageError, match="expects 32-action chunks"):
        check_policy(PolicyInfo(name="short", action_dim=7, horizon=10), bench, preset)


def test_real_episode_under_fastwam_libero_warms_up_30_replans_every_10_ends_at_400():
    preset = resolve_preset("fastwam-libero")
    bench = LiberoBenchmark()
    task = next(s for s in bench.suites() if s.name == "libero_spatial").tasks[0]
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=tuple(bench.noop_action_for(preset)), action_horizon=32)
    policy = Scripted(ctx)
    check_policy(policy.info(), bench, preset)
    plan = RolloutPlan.build(preset=preset, suite=task.suite, task=task.name, policy=policy.info(), action_dim=7,
                             noop_action=bench.noop_action_for(preset), cameras=("agentview",))
    env = bench.make_env(task, preset, cameras=("agentview",))
    try:
        result = run_episode(env, LocalPolicyClient(policy), EpisodeKey("libero", task.suite, task.name, "default", 0), plan)
    finally:
        env.close()
    assert policy.calls[0] == 30, "the first policy call comes after 30 warm-up steps"
    assert np.all(np.diff(policy.calls) == 10), "then one call every 10 executed actions"
    assert result.end_reason == EndReason.HORIZON
    assert result.steps == 400 and result.warmup_steps == 30 and result.policy_calls == 40


def test_fastwam_robotwin_sits_on_the_official_preset_and_matches_the_policy_layout():
    from envs.registry import get_benchmark
    from policies.fastwam.policy import make_fastwam

    official, p = resolve_preset("robotwin2-official"), resolve_preset("fastwam-robotwin")
    assert (p.replan_steps, p.action_horizon, p.env_seed) == (24, 32, 42)
    assert p.image_layout == {"kind": "composed", **ROBOTWIN_LAYOUT}
    assert p.max_steps == official.max_steps and p.settings == official.settings
    assert p.params["instruction_type"] == "unseen"
    bench = get_benchmark("robotwin")
    ctx = PolicyContext(benchmark="robotwin", action_dim=14, noop_action=(0.0,) * 14, action_horizon=32,
                        options={"size": "tiny"})
    check_policy(make_fastwam(ctx).info(), bench, p)  # the policy composes exactly the preset's image


@pytest.mark.parametrize("policy, benchmark, expected", [
    ("fastwam", "libero", "fastwam-libero"),
    ("fastwam-novideo", "libero", "fastwam-libero"),
    ("fastwam-joint", "libero", "fastwam-libero"),
    ("fastwam-idm", "libero", "fastwam-libero"),
    ("fastwam", "robotwin", "fastwam-robotwin"),
    ("noop", "libero", "openpi-libero"),
    ("random", "libero", "openpi-libero"),
    ("noop", "robotwin", "robotwin2-official"),
])
def test_without_preset_a_policy_gets_its_published_protocol_else_the_benchmarks(policy, benchmark, expected):
    from envs.registry import get_benchmark
    from harness.driver import choose_preset
    from harness.spec import EvalSpec

    chosen = choose_preset(EvalSpec(benchmark=benchmark, policy=policy), get_benchmark(benchmark))
    assert chosen.name == expected
    # the user's --preset always wins
    assert choose_preset(EvalSpec(benchmark="libero", policy=policy, preset="lerobot-libero"),
                         get_benchmark("libero")).name == "lerobot-libero"


def test_the_run_header_says_when_the_policy_composes_cameras_the_preset_feeds_apart():
    from rich.console import Console

    from harness.driver import _print_header
    from tests.report_data import make_manifest

    info = PolicyInfo(name="fw", action_dim=7, horizon=32,
                      input_transforms=(TransformSpec("compose_cameras", LIBERO_LAYOUT),))
    for preset_name, expected in [
        ("openpi-libero", "policy input: per camera, as rendered; the policy composes them itself: composed 224x448 "
                          "'image': agentview@(0,0) 224x224, robot0_eye_in_hand@(0,224) 224x224"),
        ("fastwam-libero", "policy input: composed 224x448 'image': agentview@(0,0) 224x224, "
                           "robot0_eye_in_hand@(0,224) 224x224"),
    ]:
        preset = resolve_preset(preset_name)
        console = Console(record=True, width=400)
        _print_header(console, make_manifest(preset), info, preset, planned=1, todo=1, store="s.sqlite")
        text = console.export_text()
        assert expected in text, text
        assert ("composes them itself" in text) == (preset_name == "openpi-libero")
        # the test manifest records mujoco 3.x: both presets name a MuJoCo (openpi's as advice), so both warn
        assert "simulator differs" in text
