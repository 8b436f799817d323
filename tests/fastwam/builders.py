"""Builders for small but real Fast-WAM files: checkpoints in the released format, a dataset
statistics JSON, and an assets directory (tokenizer.json, umt5 and VAE safetensors)."""

import json
import re
from pathlib import Path

import numpy as np
import torch

from harness.api.types import Observation
from policies.fastwam.config import PROMPT_TEMPLATE, tiny_config
from policies.fastwam.network import FastWAMNetwork
from policies.fastwam.text import UMT5Encoder
from policies.fastwam.vae import Wan22VAEDecoder, Wan22VAEEncoder

INSTRUCTIONS = ("put the bowl on the plate", "open the top drawer of the cabinet")

# LIBERO-shaped statistics: 8-D state (one constant dim exercises the flat-range rule), 7-D action.
STATE_MIN = [-0.5, -0.4, 0.0, -3.2, -3.2, -3.2, 0.0, -0.04]
STATE_MAX = [0.5, 0.4, 1.2, 3.2, 3.2, 3.2, 0.00005, 0.0]
ACTION_MIN = [-0.9, -0.8, -0.7, -0.2, -0.3, -0.4, 0.0]
ACTION_MAX = [0.9, 0.8, 0.7, 0.2, 0.3, 0.4, 1.0]


def seeded_network(seed: int = 0, action_dim: int = 7, proprio_dim: int = 8, **sampling) -> FastWAMNetwork:
    """`sampling` (num_steps=..., sigma_shift=...) goes into the config that save_checkpoint records."""
    config = tiny_config(action_dim, proprio_dim)
    if sampling:
        config = config.with_sampling(**sampling)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return FastWAMNetwork(config).eval()


class CountingRun:
    """Counts MoT passes from the outside, by which experts take part and how."""

    def __init__(self, mot):
        self.inner = mot.run
        self.passes = []

    def __call__(self, streams, mask, *, prefix=None, record_kv=False):
        experts = "+".join(s.expert for s in streams)
        self.passes.append(experts + (" (cached)" if prefix is not None else "") + (" (prefill)" if record_kv else ""))
        return self.inner(streams, mask, prefix=prefix, record_kv=record_kv)


class CountingCalls:
    """Counts calls of a bound method (e.g. a VAE's encode_frame) and records their tensor arguments."""

    def __init__(self, method):
        self.inner = method
        self.args = []

    @property
    def calls(self):
        return len(self.args)

    def __call__(self, *args, **kwargs):
        self.args.append(args)
        return self.inner(*args, **kwargs)


def write_stats(path: Path) -> Path:
    def field(lo, hi):
        lo, hi = np.array(lo), np.array(hi)
        return {
            "global_min": lo.tolist(), "global_max": hi.tolist(), "global_mean": ((lo + hi) / 2).tolist(),
            "global_std": ((hi - lo) / 4 + 0.01).tolist(), "global_q01": lo.tolist(), "global_q99": hi.tolist(),
        }

    data = {"state": {"default": field(STATE_MIN, STATE_MAX)}, "action": {"default": field(ACTION_MIN, ACTION_MAX)},
            "num_episodes": 3, "num_transition": 300}
    path.write_text(json.dumps(data))
    return path


def write_tokenizer(directory: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    words = re.findall(r"\w+|[^\w\s]+", (PROMPT_TEMPLATE + " " + " ".join(INSTRUCTIONS)).lower())
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for w in words + re.findall(r"\w+|[^\w\s]+", PROMPT_TEMPLATE):
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    return directory


def write_assets(root: Path, seed: int = 5, vae_prefix: str = "") -> dict:
    """The official model-directory layout with tiny stand-ins for the VAE, umt5 and tokenizer."""
    from safetensors.torch import save_file

    cfg = tiny_config(7, 8)
    weights = root / "DiffSynth-Studio" / "Wan-Series-Converted-Safetensors"
    weights.mkdir(parents=True, exist_ok=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        t5 = UMT5Encoder(cfg.text).eval()
        vae = Wan22VAEEncoder(cfg.vae).eval()
        decoder = Wan22VAEDecoder(cfg.vae).eval()
    save_file({k: v.contiguous() for k, v in t5.state_dict().items()}, str(weights / "models_t5_umt5-xxl-enc-bf16.safetensors"))
    # One file with both halves, as released.
    vae_state = {vae_prefix + k: v.contiguous() for k, v in (vae.state_dict() | decoder.state_dict()).items()}
    save_file(vae_state, str(weights / "Wan2.2_VAE.safetensors"))
    write_tokenizer(root / "Wan-AI" / "Wan2.1-T2V-1.3B" / "google" / "umt5-xxl")
    return {"t5": t5, "vae": vae, "decoder": decoder, "root": root}


def observation(seed: int = 0, instruction: str = INSTRUCTIONS[0], height: int = 224, width: int = 448, state_dim: int = 8) -> Observation:
    rng = np.random.default_rng(seed)
    return Observation(
        images={"image": rng.integers(0, 256, (height, width, 3), dtype=np.uint8)},
        state=rng.uniform(-1, 1, state_dim).astype(np.float32),
        instruction=instruction,
    )

