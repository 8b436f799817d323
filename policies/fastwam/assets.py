"""The frozen components a checkpoint does not contain: Wan2.2 VAE, umt5 encoder, umt5 tokenizer.

They are read from a local directory the user names (never downloaded at run time). Two layouts
are accepted: the official code's model directory (DIFFSYNTH_MODEL_BASE_PATH, default
`checkpoints/`), or the three items side by side:

    DIR/DiffSynth-Studio/Wan-Series-Converted-Safetensors/Wan2.2_VAE.safetensors
    DIR/DiffSynth-Studio/Wan-Series-Converted-Safetensors/models_t5_umt5-xxl-enc-bf16.safetensors
    DIR/Wan-AI/Wan2.1-T2V-1.3B/google/umt5-xxl/tokenizer.json
or
    DIR/Wan2.2_VAE.safetensors   DIR/models_t5_umt5-xxl-enc-bf16.safetensors   DIR/google/umt5-xxl/tokenizer.json

`assets=hf` reads them from the Hugging Face cache instead, where `wam-eval fetch` puts them (their
hub repos: policies/fastwam/release.py); a missing one is one line naming `wam-eval fetch fastwam-assets`.

The component widths are read from the tensors, so small stand-ins (tests) load the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from harness.api.errors import MissingDependencyError
from harness.api.hub_cache import CachedFile, cache_dir, cached
from policies.fastwam.config import TextEncoderConfig, VAEConfig
from policies.fastwam.release import ASSETS_NAME
from policies.fastwam.request import hub_asset_refs
from policies.fastwam.text import UMT5Encoder, UMT5Tokenizer
from policies.fastwam.vae import Wan22VAEDecoder, Wan22VAEEncoder
from policies.fastwam.weights import WeightsMismatchError, materialize, read_tensor_file

VAE_NAMES = ("Wan2.2_VAE.safetensors", "Wan2.2_VAE.pth")
T5_NAMES = ("models_t5_umt5-xxl-enc-bf16.safetensors", "models_t5_umt5-xxl-enc-bf16.pth")
WEIGHT_DIRS = (".", "DiffSynth-Studio/Wan-Series-Converted-Safetensors", "Wan-AI/Wan2.2-TI2V-5B")
TOKENIZER_DIRS = ("google/umt5-xxl", "Wan-AI/Wan2.1-T2V-1.3B/google/umt5-xxl", "umt5-xxl", "tokenizer", ".")

# The VAE file holds encoder and decoder; each module takes its own tensors from it.
VAE_DECODER_PREFIXES = ("decoder.", "conv2.")


HUB_ASSETS = "hf"  # the `assets` option value that reads the Hugging Face cache


@dataclass(frozen=True)
class AssetPaths:
    root: Path
    vae: Path
    text_encoder: Path
    tokenizer_dir: Path
    hub: tuple[CachedFile, ...] = ()  # where each came from, when read from the hub cache

    @property
    def source(self) -> str:
        if not self.hub:
            return str(self.root)
        return "hf cache: " + ", ".join(f"{f.repo}/{f.path}@{f.revision[:12]}" for f in self.hub)


def resolve_hub_assets() -> AssetPaths:
    vae, t5, tok = (cached(ref, fetch_hint=ASSETS_NAME) for ref in hub_asset_refs())
    return AssetPaths(root=cache_dir(), vae=Path(vae.local_path), text_encoder=Path(t5.local_path),
                      tokenizer_dir=Path(tok.local_path).parent, hub=(vae, t5, tok))


def _first(root: Path, dirs: tuple[str, ...], names: tuple[str, ...]) -> Path | None:
    for d in dirs:
        for n in names:
            p = root / d / n
            if p.is_file():
                return p
    return None


def resolve_assets(root: str | Path) -> AssetPaths:
    if str(root) == HUB_ASSETS:
        return resolve_hub_assets()
    root = Path(root).expanduser()
    if not root.is_dir():
        raise MissingDependencyError(f"Fast-WAM assets directory {root} does not exist")
    vae = _first(root, WEIGHT_DIRS, VAE_NAMES)
    t5 = _first(root, WEIGHT_DIRS, T5_NAMES)
    tok = _first(root, TOKENIZER_DIRS, ("tokenizer.json",))
    lacking = []
    if vae is None:
        lacking.append(f"the Wan2.2 VAE ({' or '.join(VAE_NAMES)} in {', '.join(WEIGHT_DIRS)})")
    if t5 is None:
        lacking.append(f"the umt5-xxl encoder ({' or '.join(T5_NAMES)} in {', '.join(WEIGHT_DIRS)})")
    if tok is None:
        lacking.append(f"the umt5-xxl tokenizer (tokenizer.json in {', '.join(TOKENIZER_DIRS)})")
    if lacking:
        raise MissingDependencyError(
            f"Fast-WAM assets in {root} lack " + "; ".join(lacking)
            + ". They come from DiffSynth-Studio/Wan-Series-Converted-Safetensors and Wan-AI/Wan2.1-T2V-1.3B: "
            f"`wam-eval fetch {ASSETS_NAME} --local-dir {root}` puts them there (or use assets=hf)"
        )
    return AssetPaths(root=root, vae=vae, text_encoder=t5, tokenizer_dir=tok.parent)


def _strip_prefix(state: Mapping[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    if state and all(k.startswith(prefix) for k in state):
        return {k[len(prefix):]: v for k, v in state.items()}
    return dict(state)


def _count_blocks(state: Mapping[str, torch.Tensor], prefix: str) -> int:
    indices = {int(m.group(1)) for k in state if (m := re.match(re.escape(prefix) + r"(\d+)\.", k))}
    return max(indices) + 1 if indices else 0


def text_config_from_state(state: Mapping[str, torch.Tensor], max_length: int) -> TextEncoderConfig:
    try:
        vocab, dim = state["token_embedding.weight"].shape
        buckets, heads = state["blocks.0.pos_embedding.embedding.weight"].shape
        dim_attn = state["blocks.0.attn.q.weight"].shape[0]
        dim_ffn = state["blocks.0.ffn.fc1.weight"].shape[0]
    except KeyError as exc:
        raise WeightsMismatchError("text encoder weights", missing=[exc.args[0]], hint="not a umt5 encoder file") from exc
    return TextEncoderConfig(
        vocab_size=int(vocab), dim=int(dim), dim_attn=int(dim_attn), dim_ffn=int(dim_ffn), num_heads=int(heads),
        num_layers=_count_blocks(state, "blocks."), num_buckets=int(buckets), max_length=max_length,
    )


def vae_config_from_state(state: Mapping[str, torch.Tensor], base: VAEConfig) -> VAEConfig:
    try:
        base_dim = int(state["encoder.conv1.weight"].shape[0])
        z_dim = int(state["conv1.weight"].shape[0]) // 2
    except KeyError as exc:
        raise WeightsMismatchError("VAE weights", missing=[exc.args[0]], hint="not a Wan2.2 VAE file") from exc
    if z_dim != base.z_dim:
        raise WeightsMismatchError(
            "VAE weights", wrong_shape={"conv1.weight": ((2 * z_dim,), (2 * base.z_dim,))},
            hint=f"a {z_dim}-channel VAE cannot feed a DiT trained on {base.z_dim} latent channels (Wan2.2 uses 48)",
        )
    decoder_in = state.get("decoder.conv1.weight")
    decoder_base = int(decoder_in.shape[0]) // base.dim_mult[-1] if decoder_in is not None else base.decoder_base_dim
    return VAEConfig(
        base_dim=base_dim, decoder_base_dim=decoder_base, z_dim=z_dim, dim_mult=base.dim_mult,
        num_res_blocks=base.num_res_blocks, temporal_downsample=base.temporal_downsample, pixel_patch=base.pixel_patch,
        latent_mean=base.latent_mean, latent_std=base.latent_std,
    )


def _vae_state(path: Path) -> dict[str, torch.Tensor]:
    return _strip_prefix(read_tensor_file(path), "model.")


def load_vae(path: Path, base: VAEConfig, *, device, dtype) -> Wan22VAEEncoder:
    """The encoder half (`encoder.*`, `conv1.*`) of a Wan2.2 VAE file."""
    state = _vae_state(path)
    config = vae_config_from_state(state, base)
    encoder_state = {k: v for k, v in state.items() if not k.startswith(VAE_DECODER_PREFIXES)}
    return materialize(lambda: Wan22VAEEncoder(config), encoder_state, source=f"VAE weights {path}", device=device, dtype=dtype)


def load_vae_decoder(path: Path, base: VAEConfig, *, device, dtype) -> Wan22VAEDecoder:
    """The decoder half (`decoder.*`, `conv2.*`) of a Wan2.2 VAE file."""
    state = _vae_state(path)
    config = vae_config_from_state(state, base)
    decoder_state = {k: v for k, v in state.items() if k.startswith(VAE_DECODER_PREFIXES)}
    return materialize(lambda: Wan22VAEDecoder(config), decoder_state, source=f"VAE decoder weights {path}", device=device, dtype=dtype)


def load_text_encoder(path: Path, *, max_length: int, device, dtype) -> UMT5Encoder:
    state = read_tensor_file(path)
    config = text_config_from_state(state, max_length)
    return materialize(lambda: UMT5Encoder(config), state, source=f"text encoder weights {path}", device=device, dtype=dtype)


def load_tokenizer(directory: Path, max_length: int) -> UMT5Tokenizer:
    return UMT5Tokenizer(directory, max_length)
