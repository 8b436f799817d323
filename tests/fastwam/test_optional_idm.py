"""The Optional IDM release (libero_optional_idm_2cam224.pt) as `fastwam-idm`, its two inference modes
(official FastWAMOptionalIDM.infer_action after 45d8e14: `idm` = FastWAMIDM.infer_action, `first_frame`
= FastWAM.infer_action), and the sampling settings of released files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from harness.api.errors import UsageError
from policies.fastwam import policy as fastwam_policy
from policies.fastwam.checkpoint import CONFIG_KEY, config_from_payload, variant_from_name
from policies.fastwam.request import is_optional_idm
from tests.fastwam.builders import CountingRun, observation
from tests.fastwam.test_policy import _unrecorded, context

RELEASED = "libero_optional_idm_2cam224"

PASSES = {
    # IDM: the future clip is denoised first (10 video steps), then the clean clip is prefilled and
    # actions attend to all of it.
    "idm": ["video"] * 10 + ["video (prefill)"] + ["action (cached)"] * 10,
    # First frame: Fast-WAM's path: the first frame's KV cache, then 10 action-only steps.
    "first_frame": ["video (prefill)"] + ["action (cached)"] * 10,
}
CALLS = {
    "idm": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "video_step": 10, "joint_step": 0, "action_step": 10},
    "first_frame": {"vae_encode": 1, "vae_decode": 0, "video_prefill": 1, "video_step": 0, "joint_step": 0,
                    "action_step": 10},
}


def test_the_release_file_name_runs_as_fastwam_idm():
    assert variant_from_name(f"ckpt/{RELEASED}.pt") == ("fastwam-idm", "idm")
    assert is_optional_idm(f"ckpt/{RELEASED}.pt")
    assert not is_optional_idm("ckpt/libero_idm_2cam224.pt") and not is_optional_idm("libero_uncond_2cam224.pt")


@pytest.mark.parametrize("mode", ["idm", "first_frame"])
def test_each_mode_makes_the_network_calls_of_the_official_code(fastwam_files, tmp_path, monkeypatch, mode):
    ckpt = _unrecorded(tmp_path, RELEASED)
    options = {} if mode == "idm" else {"action_infer_mode": mode}  # idm is upstream's default
    policy = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=fastwam_files["assets"], **options))
    info = policy.info()
    assert info.name == "fastwam-idm" and info.trained
    assert info.extra["action_infer_mode"] == mode and info.extra["run_identity"] == {"action_infer_mode": mode}
    assert f"{mode} mode" in info.description
    runs = CountingRun(policy.runtime.network.mot)
    monkeypatch.setattr(policy.runtime.network.mot, "run", runs)
    chunk = policy.infer([observation(0)])[0]
    assert runs.passes == PASSES[mode]
    assert chunk.info["network_calls"] == CALLS[mode] and chunk.info["mode"] == mode


def test_first_frame_mode_is_fastwams_sampler_on_the_same_weights(fastwam_files, tmp_path):
    ckpt = _unrecorded(tmp_path, RELEASED)
    assets = fastwam_files["assets"]
    first_frame = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=assets, action_infer_mode="first_frame"))
    idm = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=assets))
    as_fastwam = fastwam_policy.make_fastwam(context(checkpoint=ckpt, assets=assets, variant="fastwam"))
    obs = [observation(0)]
    np.testing.assert_array_equal(first_frame.infer(obs)[0].actions, as_fastwam.infer(obs)[0].actions)
    assert not np.array_equal(idm.infer(obs)[0].actions, first_frame.infer(obs)[0].actions)


def test_the_mode_is_part_of_the_run_identity(fastwam_files, tmp_path):
    from envs.presets import resolve_preset
    from harness.spec import run_identity

    ckpt = _unrecorded(tmp_path, RELEASED)
    preset = resolve_preset("fastwam-libero")
    identities = set()
    for options in ({}, {"action_infer_mode": "idm"}, {"action_infer_mode": "first_frame"}):
        info = fastwam_policy.make_fastwam_idm(context(checkpoint=ckpt, assets=fastwam_files["assets"], **options)).info()
        # The policy's options are left out here: the declared mode alone must tell the runs apart.
        identities.add(run_identity(policy=info, preset=preset, versions={}, seed=42, options={}, checkpoint=str(ckpt)))
    assert len(identities) == 2  # the default is idm: one identity for idm, one for first_frame


def test_modes_are_refused_where_they_do_not_apply(fastwam_files, tmp_path):
    plain = _unrecorded(tmp_path, "libero_idm_2cam224")
    with pytest.raises(UsageError, match="not the Optional IDM release"):
        fastwam_policy.make_fastwam_idm(context(checkpoint=plain, action_infer_mode="first_frame"))
    assert fastwam_policy.make_fastwam_idm(context(checkpoint=plain)).info().extra["action_infer_mode"] is None
    with pytest.raises(UsageError, match="applies to fastwam-idm"):
        fastwam_policy.make_fastwam(context(size="tiny", action_infer_mode="idm"))
    with pytest.raises(UsageError, match="must be one of idm, first_frame"):
        fastwam_policy.make_fastwam_idm(context(size="tiny", action_infer_mode="joint"))
    with pytest.raises(UsageError, match="imagines no video"):
        fastwam_policy.make_fastwam_idm(context(size="tiny", action_infer_mode="first_frame", decode_video="true"))


def _released_payload():
    """Only the two tensors a released file's widths are read from (the rest is not needed here)."""
    return {"mot": {"mixtures.action.action_encoder.weight": torch.zeros(1024, 7)},
            "proprio_encoder": {"weight": torch.zeros(4096, 8)}}


@pytest.mark.parametrize("name, shift", [
    ("libero_uncond_2cam224.pt", 5.0),  # official README: EVALUATION.sigma_shift=5.0 for the original releases
    ("robotwin_uncond_3cam_384.pt", 5.0),
    (f"{RELEASED}.pt", 1.0),  # official README: the Optional IDM release was trained and is evaluated at 1.0
])
def test_released_files_sample_at_the_shift_the_official_readme_gives(name, shift):
    payload = _released_payload()
    assert CONFIG_KEY not in payload
    config, variant, source = config_from_payload(payload, Path("checkpoints") / name)
    assert (config.sampling.num_steps, config.sampling.sigma_shift) == (10, shift)
    assert variant is None and f"sigma shift {shift}" in source and config.size == "full"
