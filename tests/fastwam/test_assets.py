"""VAE, umt5 encoder and tokenizer from a local directory, through the real loading code."""

import pytest
import torch

from harness.api.errors import MissingDependencyError
from policies.fastwam.assets import load_text_encoder, load_tokenizer, load_vae, load_vae_decoder, resolve_assets
from policies.fastwam.config import PROMPT_TEMPLATE, tiny_config
from policies.fastwam.text import ByteTokenizer, encode_prompts
from policies.fastwam.vae import pixel_patchify
from policies.fastwam.weights import WeightsMismatchError
from tests.fastwam.builders import INSTRUCTIONS, write_assets, write_tokenizer


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    return write_assets(tmp_path_factory.mktemp("assets"))


def test_assets_resolve_in_the_official_model_directory_layout(assets):
    paths = resolve_assets(assets["root"])
    assert paths.vae.name == "Wan2.2_VAE.safetensors"
    assert paths.text_encoder.name == "models_t5_umt5-xxl-enc-bf16.safetensors"
    assert paths.tokenizer_dir.parts[-2:] == ("google", "umt5-xxl")


def test_missing_assets_are_named(tmp_path):
    write_tokenizer(tmp_path / "google" / "umt5-xxl")
    with pytest.raises(MissingDependencyError) as err:
        resolve_assets(tmp_path)
    assert "Wan2.2 VAE" in str(err.value) and "umt5-xxl encoder" in str(err.value)
    assert "tokenizer" not in str(err.value).split("lack", 1)[1]
    with pytest.raises(MissingDependencyError, match="does not exist"):
        resolve_assets(tmp_path / "nowhere")


def test_tokenizer_pads_to_max_length_with_eos(assets):
    tok = load_tokenizer(resolve_assets(assets["root"]).tokenizer_dir, max_length=128)
    batch = tok([PROMPT_TEMPLATE.format(task=INSTRUCTIONS[0]), "  put   the\tbowl  "])
    assert batch.ids.shape == (2, 128) and batch.mask.shape == (2, 128)
    n0, n1 = int(batch.mask[0].sum()), int(batch.mask[1].sum())
    assert batch.ids[0, n0 - 1] == 1 and batch.ids[1, n1 - 1] == 1  # </s> closes each prompt
    assert n1 == 4  # whitespace collapsed: put, the, bowl, </s>
    assert (batch.ids[0, n0:] == 0).all() and (batch.mask[0, n0:] == 0).all()
    assert 2 not in batch.ids[0, :n0].tolist()  # every word of the prompt is in the vocabulary


def test_text_encoder_loads_and_zeroes_padding(assets):
    paths = resolve_assets(assets["root"])
    t5 = load_text_encoder(paths.text_encoder, max_length=128, device="cpu", dtype=torch.float32)
    assert t5.config.dim == 32 and t5.config.num_layers == 2 and t5.config.num_heads == 4
    tok = load_tokenizer(paths.tokenizer_dir, 128)
    prompts = [PROMPT_TEMPLATE.format(task=t) for t in INSTRUCTIONS]
    with torch.inference_mode():
        feats = encode_prompts(t5, tok, prompts, "cpu", torch.float32)
        batch = tok(prompts)
        reference = assets["t5"](batch.ids, batch.mask)
    n = int(batch.mask[0].sum())
    torch.testing.assert_close(feats[0, :n], reference[0, :n])
    assert (feats[0, n:] == 0).all() and feats[0, :n].abs().sum() > 0


def test_vae_encoder_loads_from_the_two_part_file_and_encodes_16x(assets):
    paths = resolve_assets(assets["root"])
    vae = load_vae(paths.vae, tiny_config(7, 8).vae, device="cpu", dtype=torch.float32)
    image = torch.rand(2, 3, 64, 96) * 2 - 1
    with torch.inference_mode():
        z = vae.encode_frame(image)
        reference = assets["vae"].encode_frame(image)
    assert z.shape == (2, 48, 1, 4, 6)
    torch.testing.assert_close(z, reference)
    with pytest.raises(ValueError, match="multiple of 16"):
        vae.encode_frame(torch.zeros(1, 3, 40, 96))


def test_vae_decoder_loads_and_decodes_1_plus_4k_frames(assets):
    paths = resolve_assets(assets["root"])
    decoder = load_vae_decoder(paths.vae, tiny_config(7, 8).vae, device="cpu", dtype=torch.float32)
    z = torch.randn(1, 48, 3, 2, 3)
    with torch.inference_mode():
        frames = decoder.decode(z)
        reference = assets["decoder"].decode(z)
    assert frames.shape == (1, 3, 9, 32, 48)
    assert frames.min() >= -1 and frames.max() <= 1
    torch.testing.assert_close(frames, reference)


def test_vae_with_a_model_prefix_loads_too(tmp_path):
    made = write_assets(tmp_path, vae_prefix="model.")
    vae = load_vae(resolve_assets(tmp_path).vae, tiny_config(7, 8).vae, device="cpu", dtype=torch.float32)
    for a, b in zip(vae.state_dict().values(), made["vae"].state_dict().values()):
        assert torch.equal(a, b)


def test_vae_file_missing_an_encoder_tensor_is_an_error(tmp_path):
    from safetensors.torch import load_file, save_file

    write_assets(tmp_path)
    path = resolve_assets(tmp_path).vae
    state = load_file(str(path))
    del state["encoder.middle.1.to_qkv.weight"]
    save_file(state, str(path))
    with pytest.raises(WeightsMismatchError, match=r"missing keys \(1\): encoder.middle.1.to_qkv.weight"):
        load_vae(path, tiny_config(7, 8).vae, device="cpu", dtype=torch.float32)


def test_pixel_patchify_channel_order():
    """Channel c*4 + col_offset*2 + row_offset, as the Wan2.2 VAE folds 2x2 pixels."""
    x = torch.arange(3 * 2 * 2, dtype=torch.float32).view(1, 3, 1, 2, 2)  # value = c*4 + row*2 + col
    out = pixel_patchify(x, 2).flatten().tolist()
    expected = [c * 4 + row * 2 + col for c in range(3) for col in range(2) for row in range(2)]
    assert out == expected


def test_byte_tokenizer_for_untrained_models():
    batch = ByteTokenizer(8)(["ab", "abcdefghij"])
    assert batch.ids[0].tolist() == [ord("a") + 3, ord("b") + 3, 1, 0, 0, 0, 0, 0]
    assert batch.ids[1, -1] == 1 and int(batch.mask[1].sum()) == 8

