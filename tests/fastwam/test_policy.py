"""Every variant through its factory: checkpoint + stats + assets written here, the real loaders."""

import dataclasses

import numpy as np
import pytest

from harness.api.errors import MissingDependencyError, UsageError, WamEvalError
from harness.api.types import EpisodeKey
from policies.base import Policy, PolicyContext
from policies.fastwam import policy as fastwam_policy
from policies.transforms import apply_transforms
from tests.fastwam.builders import ACTION_MAX, ACTION_MIN, INSTRUCTIONS, STATE_MAX, STATE_MIN, observation

FACTORIES = {
    "fastwam": fastwam_policy.make_fastwam,
    "fastwam-novideo": fastwam_policy.make_fastwam_novideo,
    "fastwam-joint": fastwam_policy.make_fastwam_joint,
    "fastwam-idm": fastwam_policy.make_fastwam_idm,
}
EXPECTED_CALLS = {
    "fastwam": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "video_step": 0, "joint_step": 0, "action_step": 10},
    "fastwam-novideo": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "video_step": 0, "joint_step": 0, "action_step": 10},
    "fastwam-joint": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 0, "video_step": 0, "joint_step": 10, "action_step": 0},
    "fastwam-idm": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "video_step": 10, "joint_step": 0, "action_step": 10},
}


def context(benchmark="libero", checkpoint=None, **options):
    action_dim = 7 if benchmark == "libero" else 14
    return PolicyContext(
        benchmark=benchmark, action_dim=action_dim, noop_action=(0.0,) * action_dim, seed=0,
        checkpoint=None if checkpoint is None else str(checkpoint), device="cpu",
        options={k: str(v) for k, v in options.items()},
    )


@pytest.fixture(scope="module")
def trained_policies(fastwam_files):
    return {
        v: FACTORIES[v](context(checkpoint=fastwam_files["checkpoints"][v], assets=fastwam_files["assets"], seed=42))
        for v in FACTORIES
    }


@pytest.mark.parametrize("variant", list(FACTORIES))
def test_variant_runs_from_a_released_format_checkpoint(trained_policies, variant):
    policy = trained_policies[variant]
    assert isinstance(policy, Policy)
    info = policy.info()
    assert (info.name, info.action_dim, info.horizon, info.trained) == (variant, 7, 32, True)
    assert info.checkpoint_digest.startswith("sha256:") and info.extra["checkpoint_step"] == 123
    assert info.cameras == ("agentview", "robot0_eye_in_hand") and info.image_size == (224, 448)
    assert info.preferred_presets == {"libero": "fastwam-libero", "robotwin": "fastwam-robotwin"}
    assert info.extra["sampling"] == {"steps": 10, "sigma_shift": 5.0, "cfg_scale": 1.0, "seed": 42, "video_frames": 9}
    policy.reset(EpisodeKey("libero", "libero_spatial", "t", "default", 0))
    chunks = policy.infer([observation(0), observation(1, INSTRUCTIONS[1])])
    assert len(chunks) == 2
    for chunk in chunks:
        assert chunk.actions.shape == (32, 7) and chunk.actions.dtype == np.float32
        assert np.isfinite(chunk.actions).all()
        assert chunk.info["network_calls"] == EXPECTED_CALLS[variant]
    assert np.abs(chunks[0].actions - chunks[1].actions).max() > 1e-4


def test_declared_transforms_come_from_the_stats_file(trained_policies):
    info = trained_policies["fastwam"].info()
    compose, state = info.input_transforms
    assert compose.name == "compose_cameras" and compose.params["height"] == 224 and compose.params["width"] == 448
    assert [t["camera"] for t in compose.params["tiles"]] == ["agentview", "robot0_eye_in_hand"]
    assert state.name == "normalize_state"
    assert state.params["mode"] == "minmax" and state.params["clip"] == 5.0
    np.testing.assert_allclose(state.params["low"], STATE_MIN)
    np.testing.assert_allclose(state.params["high"], STATE_MAX)
    unnorm, gripper = info.output_transforms
    assert unnorm.name == "unnormalize_actions" and unnorm.params["mode"] == "minmax" and "clip" not in unnorm.params
    np.testing.assert_allclose(unnorm.params["low"], ACTION_MIN)
    np.testing.assert_allclose(unnorm.params["high"], ACTION_MAX)
    assert (gripper.name, dict(gripper.params)) == ("libero_gripper", {"index": 6})


def test_output_is_unnormalised_with_the_checkpoint_statistics(trained_policies):
    policy = trained_policies["fastwam"]
    info = policy.info()
    raw = policy.infer([observation(3)])[0]
    out = apply_transforms(raw, info.output_transforms)
    lo, hi = np.array(ACTION_MIN), np.array(ACTION_MAX)
    expected = (raw.actions[:, :6] + 1) / 2 * (hi[:6] - lo[:6]) + lo[:6]
    np.testing.assert_allclose(out.actions[:, :6], expected, rtol=1e-5, atol=1e-6)
    g = (raw.actions[:, 6].astype(np.float64) + 1) / 2  # the unnormalised gripper in [0 close, 1 open]
    np.testing.assert_array_equal(out.actions[:, 6], np.sign(1 - 2 * g.astype(np.float64)))


def test_input_transforms_feed_infer(trained_policies):
    policy = trained_policies["fastwam"]
    rng = np.random.default_rng(0)
    from harness.api.types import Observation

    raw = Observation(
        images={"agentview": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8),
                "robot0_eye_in_hand": rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)},
        state=np.array(STATE_MAX, dtype=np.float32), instruction=INSTRUCTIONS[0],
    )
    ready = apply_transforms(raw, policy.info().input_transforms)
    assert ready.images["image"].shape == (224, 448, 3)
    np.testing.assert_allclose(ready.state[:6], 1.0, atol=1e-6)
    assert policy.infer([ready])[0].actions.shape == (32, 7)


def test_same_seed_same_actions_other_seed_other_actions(fastwam_files, trained_policies):
    ckpt, assets = fastwam_files["checkpoints"]["fastwam"], fastwam_files["assets"]
    again = fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets, seed=42))
    other = fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets, seed=43))
    obs = [observation(5)]
    first = trained_policies["fastwam"].infer(obs)[0].actions
    np.testing.assert_array_equal(again.infer(obs)[0].actions, first)
    np.testing.assert_array_equal(trained_policies["fastwam"].infer(obs)[0].actions, first)  # and across calls
    assert np.abs(other.infer(obs)[0].actions - first).max() > 1e-3


def test_batching_does_not_change_a_sample(trained_policies):
    policy = trained_policies["fastwam-joint"]
    alone = policy.infer([observation(7)])[0].actions
    batched = policy.infer([observation(8), observation(7)])[1].actions
    np.testing.assert_allclose(batched, alone, atol=1e-5)


def test_untrained_tiny_model_without_files(tmp_path):
    policy = fastwam_policy.make_fastwam(context(size="tiny"))
    info = policy.info()
    assert info.trained is False and "UNTRAINED" in info.description
    assert info.checkpoint_digest == "random-tiny-seed0"
    assert info.output_transforms[0].params["low"] == [-1.0] * 7
    assert policy.infer([observation(0)])[0].actions.shape == (32, 7)
    # a trained network with random VAE/T5 is still not a trained policy
    mixed = fastwam_policy.make_fastwam(context(checkpoint=str(_tiny_ckpt(tmp_path))))
    assert mixed.info().trained is False and "VAE and text encoder" in mixed.info().description


def _tiny_ckpt(tmp_path):
    from policies.fastwam.checkpoint import save_checkpoint
    from tests.fastwam.builders import seeded_network, write_stats

    path = save_checkpoint(tmp_path / "m.pt", seeded_network(), variant="fastwam")
    write_stats(tmp_path / "m_dataset_stats.json")
    return path


def test_robotwin_layout_uses_zscore_and_three_cameras():
    policy = fastwam_policy.make_fastwam_idm(context("robotwin", size="tiny"))
    info = policy.info()
    assert info.image_size == (384, 320) and info.cameras == ("head_camera", "left_camera", "right_camera")
    assert info.input_transforms[1].params["mode"] == "zscore"
    assert [t.name for t in info.output_transforms] == ["unnormalize_actions"]
    chunk = policy.infer([observation(0, height=384, width=320, state_dim=14)])[0]
    assert chunk.actions.shape == (32, 14)


def test_user_errors_are_clear(fastwam_files, tmp_path):
    with pytest.raises(UsageError, match="unknown Fast-WAM option"):
        fastwam_policy.make_fastwam(context(sise="tiny"))
    with pytest.raises(UsageError, match="needs a checkpoint"):
        fastwam_policy.make_fastwam(context(size="full"))
    with pytest.raises(UsageError, match="holds a fastwam model; it cannot run as fastwam-idm"):
        fastwam_policy.make_fastwam_idm(context(checkpoint=fastwam_files["checkpoints"]["fastwam"]))
    lonely = tmp_path / "lonely.pt"
    lonely.write_bytes(fastwam_files["checkpoints"]["fastwam"].read_bytes())
    with pytest.raises(UsageError, match="no dataset statistics"):
        fastwam_policy.make_fastwam(context(checkpoint=lonely))
    with pytest.raises(UsageError, match="no input layout"):
        fastwam_policy.make_fastwam(dataclasses.replace(context(size="tiny"), benchmark="metaworld"))
    with pytest.raises(MissingDependencyError, match="lack"):
        fastwam_policy.make_fastwam(context(size="tiny", assets=tmp_path))
    policy = fastwam_policy.make_fastwam(context(size="tiny"))
    with pytest.raises(WamEvalError, match="composed 'image'"):
        policy.infer([dataclasses.replace(observation(0), images={"agentview": np.zeros((224, 448, 3), np.uint8)})])
    with pytest.raises(WamEvalError, match="8-D normalised state"):
        policy.infer([dataclasses.replace(observation(0), state=np.zeros(3, np.float32))])


def test_sampling_overrides(fastwam_files):
    policy = fastwam_policy.make_fastwam(context(checkpoint=fastwam_files["checkpoints"]["fastwam"], steps=3, sigma_shift=1.0))
    assert policy.info().extra["sampling"]["steps"] == 3
    assert policy.infer([observation(0)])[0].info["network_calls"]["action_step"] == 3


def test_the_fastwam_libero_preset_accepts_the_declared_layout(trained_policies):
    """The engine checks a policy's composed image against the preset before any episode."""
    from envs.presets import resolve_preset
    from envs.registry import get_benchmark
    from harness.driver import check_policy

    preset = resolve_preset("fastwam-libero")
    info = trained_policies["fastwam"].info()
    check_policy(info, get_benchmark("libero"), preset)
    assert info.preferred_presets["libero"] == preset.name
    assert preset.action_horizon == info.horizon and tuple(preset.render.cameras) == info.cameras


def test_directly_allocated_random_weights_run():
    """The allocation path used for full-size latency runs, exercised on the tiny model."""
    import torch

    from policies.fastwam.config import tiny_config
    from policies.fastwam.inference import Conditioning, draw_noise, sample
    from policies.fastwam.network import FastWAMNetwork
    from policies.fastwam.runtime import random_allocated

    cfg = tiny_config(7, 8)
    net = random_allocated(lambda: FastWAMNetwork(cfg), 0, torch.device("cpu"), torch.bfloat16)
    assert all(p.dtype == torch.bfloat16 and p.device.type == "cpu" for p in net.parameters())
    again = random_allocated(lambda: FastWAMNetwork(cfg), 0, torch.device("cpu"), torch.bfloat16)
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), again.parameters()))
    cond = Conditioning(torch.randn(1, 48, 1, 2, 4, dtype=torch.bfloat16), torch.randn(1, 129, 32, dtype=torch.bfloat16))
    with torch.inference_mode():
        actions = sample("fastwam-idm", net.mot, cfg, cond, draw_noise(cfg, 1, (2, 4), 0)).actions
    assert torch.isfinite(actions.float()).all() and (actions.float() != 0).any()


def test_idm_can_decode_its_imagined_clip_as_released(fastwam_files):
    ckpt, assets = fastwam_files["checkpoints"]["fastwam-idm"], fastwam_files["assets"]
    plain = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=assets, seed=42))
    decoding = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=assets, seed=42, decode_video="true"))
    obs = [observation(2)]
    chunk = decoding.infer(obs)[0]
    assert chunk.info["network_calls"]["vae_decode"] == 1 and decoding.info().extra["decode_video"] is True
    assert decoding.last_imagined_video.shape == (1, 3, 9, 224, 448)
    np.testing.assert_array_equal(chunk.actions, plain.infer(obs)[0].actions)  # decoding changes no action
    with pytest.raises(UsageError, match="imagines no video"):
        fastwam_policy.make_fastwam(context(size="tiny", decode_video="true"))
    with pytest.raises(UsageError, match="decode_video must be"):
        fastwam_policy.make_fastwam_idm(context(size="tiny", decode_video="maybe"))


def _unrecorded(tmp_path, name):
    """A tiny checkpoint that records no variant, as released files record none, with its stats."""
    from policies.fastwam.checkpoint import save_checkpoint
    from tests.fastwam.builders import seeded_network, write_stats

    path = save_checkpoint(tmp_path / f"{name}.pt", seeded_network(seed=1), variant=None)
    write_stats(tmp_path / f"{name}_dataset_stats.json")
    return path


def test_a_checkpoint_without_a_variant_runs_only_as_its_name_implies(fastwam_files, tmp_path):
    import torch

    ckpt = _unrecorded(tmp_path, "libero_uncond_2cam224")  # the released LIBERO file's name
    assert "variant" not in torch.load(ckpt, weights_only=True)["wam_eval_config"]
    assets = fastwam_files["assets"]
    policy = fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets))
    info = policy.info()
    assert info.trained is True and info.name == "fastwam"
    assert info.extra["variant_source"].startswith("implied by the file name ('uncond' in libero_uncond_2cam224.pt")
    assert "asserted" not in info.description
    assert policy.infer([observation(0)])[0].actions.shape == (32, 7)

    for make, variant in ((fastwam_policy.make_fastwam_joint, "fastwam-joint"),
                          (fastwam_policy.make_fastwam_novideo, "fastwam-novideo"),
                          (fastwam_policy.make_fastwam_idm, "fastwam-idm")):
        with pytest.raises(UsageError) as err:
            make(context(checkpoint=ckpt, assets=assets))
        message = str(err.value)
        assert "\n" not in message
        assert message == (
            f"checkpoint {ckpt} records no variant and its name implies fastwam ('uncond'), not {variant}; "
            f"if its weights really are {variant}'s, pass --policy-option variant={variant}"
        )


def test_the_user_can_vouch_for_the_variant_and_the_run_records_it(fastwam_files, tmp_path):
    ckpt = _unrecorded(tmp_path, "libero_uncond_2cam224")
    assets = fastwam_files["assets"]
    joint = fastwam_policy.make_fastwam_joint(context(checkpoint=ckpt, assets=assets, variant="fastwam-joint"))
    info = joint.info()
    assert info.name == "fastwam-joint" and info.trained is True
    source = "asserted by the user (variant=fastwam-joint); the checkpoint records none; its name implies fastwam"
    assert info.extra["variant_source"] == source
    assert info.description.endswith(f" — variant {source}")
    assert joint.infer([observation(0)])[0].info["network_calls"]["joint_step"] == 10
    # Confirming the variant the name implies is allowed too, and recorded as the user's word.
    plain = fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets, variant="fastwam"))
    assert plain.info().extra["variant_source"] == "asserted by the user (variant=fastwam); the checkpoint records none"
    # The option confirms weights for its own factory; it does not switch factories.
    with pytest.raises(UsageError, match=r"^variant=fastwam-joint given to the fastwam policy"):
        fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets, variant="fastwam-joint"))
    # A variant the file records is never overridden.
    recorded = fastwam_files["checkpoints"]["fastwam"]
    with pytest.raises(UsageError, match="holds a fastwam model; it cannot run as fastwam-joint"):
        fastwam_policy.make_fastwam_joint(context(checkpoint=recorded, assets=assets, variant="fastwam-joint"))
    recorded_source = fastwam_policy.make_fastwam(context(checkpoint=recorded, assets=assets)).info().extra["variant_source"]
    assert recorded_source == "recorded in the checkpoint (wam_eval_config)"


def test_names_that_imply_idm_or_nothing(tmp_path):
    idm = _unrecorded(tmp_path, "libero_idm_2cam224")
    assert fastwam_policy.make_fastwam_idm(context(checkpoint=idm)).info().extra["variant_source"].startswith(
        "implied by the file name ('idm' in libero_idm_2cam224.pt"
    )
    with pytest.raises(UsageError, match="implies fastwam-idm \\('idm'\\), not fastwam;"):
        fastwam_policy.make_fastwam(context(checkpoint=idm))
    anonymous = _unrecorded(tmp_path, "model")
    for make, variant in ((fastwam_policy.make_fastwam, "fastwam"), (fastwam_policy.make_fastwam_novideo, "fastwam-novideo")):
        with pytest.raises(UsageError, match=f"its name implies none .*, not {variant}; .*--policy-option variant={variant}$"):
            make(context(checkpoint=anonymous))
        assert make(context(checkpoint=anonymous, variant=variant)).info().name == variant
    ambiguous = _unrecorded(tmp_path, "robotwin_uncond_vs_idm")
    with pytest.raises(UsageError, match="implies none"):
        fastwam_policy.make_fastwam(context(checkpoint=ambiguous))


def test_a_file_without_any_config_is_refused_before_it_is_loaded(tmp_path):
    """The released format proper (no wam_eval_config): the wrong factory refuses it on the variant
    alone; the right one goes on to the (full-size) architecture check, which tiny tensors fail."""
    import torch

    from policies.fastwam.checkpoint import CONFIG_KEY, CheckpointMismatchError

    path = _unrecorded(tmp_path, "robotwin_uncond_3cam_384")
    payload = torch.load(path, weights_only=True)
    del payload[CONFIG_KEY]
    torch.save(payload, path)
    with pytest.raises(UsageError, match="records no variant and its name implies fastwam \\('uncond'\\), not fastwam-novideo"):
        fastwam_policy.make_fastwam_novideo(context(checkpoint=path))
    with pytest.raises(CheckpointMismatchError, match="full Fast-WAM"):
        fastwam_policy.make_fastwam(context(checkpoint=path))
    with pytest.raises(CheckpointMismatchError, match="full Fast-WAM"):
        fastwam_policy.make_fastwam_novideo(context(checkpoint=path, variant="fastwam-novideo"))


@pytest.mark.parametrize(
    "variant, passes",
    [
        ("fastwam", ["video (prefill)"] + ["action (cached)"] * 4),
        ("fastwam-idm", ["video"] * 4 + ["video (prefill)"] + ["action (cached)"] * 4),
    ],
)
def test_sampling_settings_come_from_the_saved_checkpoint(fastwam_files, tmp_path, monkeypatch, variant, passes):
    import torch

    from policies.fastwam.checkpoint import save_checkpoint
    from policies.fastwam.scheduler import build_schedule
    from tests.fastwam.builders import CountingCalls, CountingRun, seeded_network, write_stats

    ckpt = save_checkpoint(tmp_path / "four_steps.pt", seeded_network(seed=2, num_steps=4, sigma_shift=2.0), variant=variant)
    write_stats(tmp_path / "four_steps_dataset_stats.json")
    policy = FACTORIES[variant](context(checkpoint=ckpt, assets=fastwam_files["assets"]))
    info = policy.info()
    assert info.extra["config_source"] == "checkpoint (wam_eval_config)"
    assert (info.extra["sampling"]["steps"], info.extra["sampling"]["sigma_shift"]) == (4, 2.0)

    mot, vae = policy.runtime.network.mot, policy.runtime.vae
    runs, encodes = CountingRun(mot), CountingCalls(vae.encode_frame)
    action_embeds, video_embeds = CountingCalls(mot.action.embed), CountingCalls(mot.video.embed)
    monkeypatch.setattr(mot, "run", runs)
    monkeypatch.setattr(vae, "encode_frame", encodes)
    monkeypatch.setattr(mot.action, "embed", action_embeds)
    monkeypatch.setattr(mot.video, "embed", video_embeds)
    calls = policy.infer([observation(0)])[0].info["network_calls"]

    assert encodes.calls == 1 and runs.passes == passes
    expected = {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "joint_step": 0, "action_step": 4,
                "video_step": 4 if variant == "fastwam-idm" else 0}
    assert calls == expected
    # sigma_shift 2.0 reached the sampler: the action steps ran at the shift-2 timesteps (shift 5 differs).
    shift2 = build_schedule(4, 2.0).timesteps
    assert not torch.allclose(shift2, build_schedule(4, 5.0).timesteps)
    torch.testing.assert_close(torch.stack([args[1][0] for args in action_embeds.args]), shift2)
    video_steps = [args[1][0] for args in video_embeds.args[: calls["video_step"]]]
    if video_steps:
        torch.testing.assert_close(torch.stack(video_steps), shift2)


def test_the_vae_encode_count_is_what_ran(trained_policies, monkeypatch):
    """Counted by a hook on the encoder network itself, so it follows the real calls: an encode that
    runs the encoder twice reports 2, a batch of two frames in one pass reports 1."""
    from tests.fastwam.builders import CountingCalls

    policy = trained_policies["fastwam"]
    vae = policy.runtime.vae
    encodes = CountingCalls(vae.encode_frame)
    monkeypatch.setattr(vae, "encode_frame", encodes)
    assert policy.infer([observation(0), observation(1)])[0].info["network_calls"]["vae_encode"] == 1
    assert encodes.calls == 1 and encodes.args[0][0].shape[0] == 2

    real = encodes.inner

    def twice(images):
        real(images)
        return real(images)

    monkeypatch.setattr(vae, "encode_frame", twice)
    assert policy.infer([observation(0)])[0].info["network_calls"]["vae_encode"] == 2
    monkeypatch.setattr(vae, "encode_frame", real)
    assert policy.infer([observation(0)])[0].info["network_calls"]["vae_encode"] == 1


@pytest.mark.parametrize("variant", sorted(FACTORIES))
def test_without_a_checkpoint_a_size_must_be_named(variant):
    with pytest.raises(UsageError) as refused:
        FACTORIES[variant](context())
    message = str(refused.value)
    assert "--checkpoint" in message and "size=tiny" in message and "size=full" in message and "\n" not in message
    assert FACTORIES[variant](context(size="tiny")).info().trained is False


def test_the_cli_refuses_a_fastwam_run_without_weights_before_anything_starts(tmp_path):
    import subprocess
    import sys

    store = tmp_path / "s.sqlite"
    proc = subprocess.run(
        [sys.executable, "-m", "harness.cli", "run", "--suite", "libero_object", "--tasks", "0", "--episodes", "1",
         "--policy", "fastwam-idm", "--store", str(store)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--checkpoint" in lines[0] and "size=tiny" in lines[0] and "size=full" in lines[0]
    assert "ray" not in proc.stdout.lower() and not store.exists()  # refused before Ray and the store
