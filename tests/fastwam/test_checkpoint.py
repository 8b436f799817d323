"""The released checkpoint layout: key names, shapes, round trip, and the mismatch error."""

import pytest
import torch

from harness.api.errors import WamEvalError
from policies.fastwam.checkpoint import (
    CONFIG_KEY,
    CheckpointMismatchError,
    load_checkpoint,
    read_payload,
    save_checkpoint,
)
from policies.fastwam.config import full_config
from policies.fastwam.network import FastWAMNetwork, parameter_counts
from tests.fastwam.builders import seeded_network


def test_saved_file_has_the_released_layout(tmp_path):
    net = seeded_network()
    path = save_checkpoint(tmp_path / "c.pt", net, variant="fastwam", step=7)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    assert {"mot", "proprio_encoder", "step", "torch_dtype"} <= set(payload)
    assert payload["step"] == 7 and payload["torch_dtype"] == "torch.float32"
    assert set(payload["proprio_encoder"]) == {"weight", "bias"}
    mot = payload["mot"]
    assert all(k.startswith(("mixtures.video.", "mixtures.action.")) for k in mot)
    for key in (
        "mixtures.video.patch_embedding.weight",
        "mixtures.video.text_embedding.0.weight",
        "mixtures.video.time_projection.1.weight",
        "mixtures.video.blocks.0.self_attn.norm_q.weight",
        "mixtures.video.blocks.3.cross_attn.o.bias",
        "mixtures.video.blocks.0.norm3.weight",
        "mixtures.video.blocks.0.ffn.2.weight",
        "mixtures.video.blocks.0.modulation",
        "mixtures.video.head.head.weight",
        "mixtures.video.head.modulation",
        "mixtures.action.action_encoder.weight",
        "mixtures.action.blocks.0.self_attn.q.weight",
        "mixtures.action.head.weight",
    ):
        assert key in mot, key
    # parameter-free norms and activations leave no keys
    assert not any(".norm1." in k or ".norm2." in k for k in mot)


def test_round_trip_through_the_loader(tmp_path):
    net = seeded_network(seed=4)
    path = save_checkpoint(tmp_path / "c.pt", net, variant="fastwam-idm")
    loaded = load_checkpoint(path, device="cpu", dtype=torch.float32)
    assert loaded.variant == "fastwam-idm" and loaded.config == net.config
    for (k, a), (k2, b) in zip(net.state_dict().items(), loaded.network.state_dict().items()):
        assert k == k2 and torch.equal(a, b)


def test_full_size_names_and_shapes_match_the_released_model():
    with torch.device("meta"):
        net = FastWAMNetwork(full_config(action_dim=7, proprio_dim=8))
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    expected = {
        "mot.mixtures.video.patch_embedding.weight": (3072, 48, 1, 2, 2),
        "mot.mixtures.video.text_embedding.0.weight": (3072, 4096),
        "mot.mixtures.video.time_embedding.0.weight": (3072, 256),
        "mot.mixtures.video.time_projection.1.weight": (18432, 3072),
        "mot.mixtures.video.blocks.29.ffn.0.weight": (14336, 3072),
        "mot.mixtures.video.blocks.0.self_attn.norm_q.weight": (3072,),
        "mot.mixtures.video.blocks.0.modulation": (1, 6, 3072),
        "mot.mixtures.video.head.head.weight": (192, 3072),
        "mot.mixtures.video.head.modulation": (1, 2, 3072),
        "mot.mixtures.action.action_encoder.weight": (1024, 7),
        "mot.mixtures.action.blocks.29.self_attn.q.weight": (3072, 1024),
        "mot.mixtures.action.blocks.0.self_attn.o.weight": (1024, 3072),
        "mot.mixtures.action.blocks.0.ffn.0.weight": (4096, 1024),
        "mot.mixtures.action.head.weight": (7, 1024),
        "proprio_encoder.weight": (4096, 8),
    }
    for key, shape in expected.items():
        assert shapes[key] == shape, key
    assert not any(k.startswith("mot.mixtures.video.blocks.30.") for k in shapes)
    counts = parameter_counts(net)
    assert 4.8e9 < counts["video_expert"] < 5.2e9  # Wan2.2-TI2V-5B's DiT
    assert 0.9e9 < counts["action_expert"] < 1.3e9  # "about 1B"


def test_missing_and_unexpected_keys_are_listed(tmp_path):
    net = seeded_network()
    path = save_checkpoint(tmp_path / "c.pt", net, variant="fastwam")
    payload = torch.load(path, weights_only=True)
    del payload["mot"]["mixtures.action.blocks.1.ffn.0.weight"]
    payload["mot"]["mixtures.video.blocks.9.extra.weight"] = torch.zeros(2)
    payload["proprio_encoder"]["bias"] = torch.zeros(5)
    torch.save(payload, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, device="cpu", dtype=torch.float32)
    message = str(err.value)
    assert isinstance(err.value, WamEvalError)
    assert "missing keys (1): mot.mixtures.action.blocks.1.ffn.0.weight" in message
    assert "unexpected keys (1): mot.mixtures.video.blocks.9.extra.weight" in message
    assert "proprio_encoder.bias (5,) != expected (32,)" in message
    assert err.value.missing == ["mot.mixtures.action.blocks.1.ffn.0.weight"]


def test_released_format_without_config_is_read_as_the_full_architecture(tmp_path):
    """A released checkpoint carries no config; its widths come from the tensors. Tiny tensors in
    such a file then fail the full-size check, naming what does not fit."""
    net = seeded_network()
    path = save_checkpoint(tmp_path / "c.pt", net, variant="fastwam")
    payload = torch.load(path, weights_only=True)
    del payload[CONFIG_KEY]
    torch.save(payload, path)
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, device="cpu", dtype=torch.float32)
    message = str(err.value)
    assert "7-D actions and 8-D proprio" in message and "full Fast-WAM" in message
    assert "mot.mixtures.video.blocks.29.ffn.0.weight" in err.value.missing
    assert err.value.wrong_shape["mot.mixtures.video.patch_embedding.weight"] == ((128, 48, 1, 2, 2), (3072, 48, 1, 2, 2))


def test_files_that_are_not_fastwam_checkpoints(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"model": {"w": torch.zeros(1)}}, path)
    with pytest.raises(WamEvalError, match="no 'mot' entry"):
        read_payload(path)
    with pytest.raises(WamEvalError, match="does not exist"):
        read_payload(tmp_path / "absent.pt")
