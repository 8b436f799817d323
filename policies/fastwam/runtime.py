"""Assembling a ready-to-sample Fast-WAM: network (checkpoint or seeded random), VAE, T5, tokenizer."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from harness.api.errors import MissingDependencyError, UsageError
from policies.fastwam.assets import load_text_encoder, load_tokenizer, load_vae, load_vae_decoder, resolve_assets
from policies.fastwam.checkpoint import file_digest, load_checkpoint
from policies.fastwam.config import FastWAMConfig, config_for_size
from policies.fastwam.network import FastWAMNetwork
from policies.fastwam.text import ByteTokenizer, Tokenizer, UMT5Encoder
from policies.fastwam.vae import Wan22VAEDecoder, Wan22VAEEncoder

M = TypeVar("M", bound=nn.Module)


@dataclass(frozen=True)
class BuildRequest:
    """What to assemble. `size` is ignored when a checkpoint fixes it."""

    device: str = "cpu"
    dtype: torch.dtype | None = None  # default: bf16 on CUDA, float32 elsewhere
    checkpoint: str | None = None
    assets: str | None = None
    size: str | None = None
    action_dim: int = 7
    proprio_dim: int = 8
    seed: int = 0
    steps: int | None = None
    sigma_shift: float | None = None
    allow_random_full: bool = False  # latency measurements on random full-size weights
    decode_video: bool = False  # also build the VAE decoder (to decode imagined clips)
    variant: str | None = None  # the variant the checkpoint is to run as (None: not checked)
    asserted_variant: str | None = None  # the user's `variant` option, for files that record none


@dataclass(frozen=True)
class Provenance:
    checkpoint: str | None
    checkpoint_digest: str
    network_trained: bool
    assets: str | None
    config_source: str
    variant_recorded: str | None
    step: int | None = None
    variant_source: str | None = None  # why the network may run as the variant asked for
    assets_hub: tuple = ()  # hub_cache.CachedFile of each component read from the hub cache


@dataclass
class FastWAMRuntime:
    config: FastWAMConfig
    network: FastWAMNetwork
    vae: Wan22VAEEncoder
    vae_decoder: Wan22VAEDecoder | None
    text_encoder: UMT5Encoder
    tokenizer: Tokenizer
    device: torch.device
    dtype: torch.dtype
    provenance: Provenance

    @property
    def trained(self) -> bool:
        return self.provenance.network_trained and self.provenance.assets is not None


def resolve_dtype(device: torch.device, dtype: torch.dtype | None) -> torch.dtype:
    if dtype is not None:
        return dtype
    return torch.bfloat16 if device.type == "cuda" else torch.float32


@contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed weight initialisation without disturbing anyone else's random stream."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _random(build: Callable[[], M], seed: int, device: torch.device, dtype: torch.dtype) -> M:
    """Seeded random weights with each module's own initialisation."""
    with _seeded(seed, device), torch.device(device):
        module = build()
    return module.to(dtype=dtype).eval().requires_grad_(False)


def random_allocated(build: Callable[[], M], seed: int, device: torch.device, dtype: torch.dtype) -> M:
    """Random weights allocated straight in `dtype` on `device`, for latency runs of the full model:
    building in float32 first would need twice the memory (about 50 GB instead of 25 GB).

    Matrices get N(0, 1/fan_in), norm gains 1 and every other vector 0, so activations keep a sane
    scale through 30 layers; the values mean nothing else."""
    with torch.device("meta"):
        module = build()
    module = module.to(dtype=dtype).to_empty(device=device)
    generator = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if p.ndim >= 2:
                fan_in = p[0].numel()
                p.normal_(0.0, fan_in**-0.5, generator=generator)
            elif name.rsplit(".", 1)[-1] in ("weight", "gamma"):
                p.fill_(1.0)
            else:
                p.zero_()
    return module.eval().requires_grad_(False)


def build_runtime(request: BuildRequest) -> FastWAMRuntime:
    device = torch.device(request.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise MissingDependencyError(f"device {request.device!r} requested but CUDA is not available")
    dtype = resolve_dtype(device, request.dtype)

    if request.checkpoint:
        loaded = load_checkpoint(
            request.checkpoint, device=device, dtype=dtype, run_as=request.variant, asserted_variant=request.asserted_variant,
        )
        if request.size and request.size != loaded.config.size:
            raise UsageError(f"size={request.size} requested but {request.checkpoint} holds a {loaded.config.size} model")
        config, network = loaded.config, loaded.network
        provenance = Provenance(
            checkpoint=str(Path(request.checkpoint)), checkpoint_digest=file_digest(request.checkpoint),
            network_trained=True, assets=None, config_source=loaded.config_source,
            variant_recorded=loaded.variant, step=loaded.step, variant_source=loaded.variant_source,
        )
    else:
        size = request.size or "tiny"
        if size == "full" and not request.allow_random_full:
            raise UsageError("a full-size Fast-WAM needs a checkpoint (random full weights are only for latency runs)")
        config = config_for_size(size, request.action_dim, request.proprio_dim)
        make_random = random_allocated if size == "full" else _random
        network = make_random(lambda: FastWAMNetwork(config), request.seed, device, dtype)
        provenance = Provenance(
            checkpoint=None, checkpoint_digest=f"random-{size}-seed{request.seed}", network_trained=False,
            assets=None, config_source=f"built-in {size} configuration", variant_recorded=None,
            variant_source="no checkpoint: random weights stand in for any variant",
        )

    if request.steps is not None or request.sigma_shift is not None:
        changes = {}
        if request.steps is not None:
            changes["num_steps"] = int(request.steps)
        if request.sigma_shift is not None:
            changes["sigma_shift"] = float(request.sigma_shift)
        config = config.with_sampling(**changes)
        config.sampling.validate()

    if request.assets:
        paths = resolve_assets(request.assets)
        vae = load_vae(paths.vae, config.vae, device=device, dtype=dtype)
        vae_decoder = load_vae_decoder(paths.vae, config.vae, device=device, dtype=dtype) if request.decode_video else None
        text_encoder = load_text_encoder(paths.text_encoder, max_length=config.text.max_length, device=device, dtype=dtype)
        if text_encoder.config.dim != config.text.dim:
            raise UsageError(
                f"the text encoder in {paths.text_encoder} is {text_encoder.config.dim} wide; "
                f"the checkpoint was trained on {config.text.dim}-wide text features"
            )
        tokenizer: Tokenizer = load_tokenizer(paths.tokenizer_dir, config.text.max_length)
        config = dataclasses.replace(config, vae=vae.config, text=text_encoder.config)
        provenance = dataclasses.replace(provenance, assets=paths.source, assets_hub=paths.hub)
    else:
        if config.size == "full" and not request.allow_random_full:
            raise MissingDependencyError(
                "a full-size Fast-WAM needs the Wan2.2 VAE, the umt5-xxl encoder and its tokenizer: "
                "pass their local directory as the `assets` option (--fastwam-assets DIR)"
            )
        # Untrained stand-ins, seeded apart from the network so each part is reproducible alone.
        make_random = random_allocated if config.size == "full" else _random
        vae = make_random(lambda: Wan22VAEEncoder(config.vae), request.seed + 1, device, dtype)
        vae_decoder = (
            make_random(lambda: Wan22VAEDecoder(config.vae), request.seed + 3, device, dtype) if request.decode_video else None
        )
        text_encoder = make_random(lambda: UMT5Encoder(config.text), request.seed + 2, device, dtype)
        tokenizer = ByteTokenizer(config.text.max_length)

    return FastWAMRuntime(
        config=config, network=network, vae=vae, vae_decoder=vae_decoder, text_encoder=text_encoder, tokenizer=tokenizer,
        device=device, dtype=dtype, provenance=provenance,
    )
