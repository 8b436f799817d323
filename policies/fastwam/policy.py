"""Fast-WAM and its three controlled variants behind the harness's Policy protocol.

Factories (one per variant) for the policy registry:
    policies.fastwam.policy:make_fastwam          Fast-WAM (video co-trained, no imagination at test time)
    policies.fastwam.policy:make_fastwam_novideo  w.o. video co-training (same inference path)
    policies.fastwam.policy:make_fastwam_joint    joint video + action denoising
    policies.fastwam.policy:make_fastwam_idm      imagine video, then actions (inverse dynamics)

PolicyContext.options (all optional):
    size=tiny|full   without a checkpoint: a seeded random model of that size; required then, so that
                     a forgotten --checkpoint never runs a random model by default
    assets=DIR       local directory with the Wan2.2 VAE, umt5 encoder and tokenizer
    seed=N           weight-init seed for random models and the sampling-noise seed (default ctx.seed)
    steps=N, sigma_shift=X   override the checkpoint's sampling settings
    dtype=bf16|fp32  (default bf16 on CUDA, fp32 on CPU)
    decode_video=true|false   Joint/IDM: also VAE-decode the imagined clip each chunk, as the
                     released IDM inference does (it changes no action, only the time taken);
                     the last clip is kept in `policy.last_imagined_video`
    stats=PATH       dataset statistics JSON (default: found beside the checkpoint)
    action_infer_mode=idm|first_frame   fastwam-idm only: the Optional IDM release's two inference
                     modes (official FastWAMOptionalIDM.infer_action): `idm` imagines the future video
                     first, then denoises actions attending to it (default, as upstream); `first_frame`
                     skips the imagination and runs Fast-WAM's path (actions see the first frame only).
                     A plain IDM checkpoint has only `idm`. Recorded in the run identity.
    variant=NAME     the factory's own variant, to run a checkpoint that records no variant and whose
                     file name does not imply this one (released files record none; see
                     policies.fastwam.checkpoint.resolve_variant)

The harness applies the declared transforms: infer() receives the composed image under "image",
the normalised state and the raw instruction, and returns normalised actions.
"""

from __future__ import annotations

import dataclasses
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from harness.api.errors import UsageError, WamEvalError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo
from policies.dataset_stats import DatasetStats
from policies.fastwam.config import PROMPT_TEMPLATE, VARIANTS
from policies.fastwam.inference import Conditioning, draw_noise, sample
from policies.fastwam.layouts import PREFERRED_PRESETS, BenchmarkLayout, layout_for
from policies.fastwam.network import parameter_counts
from policies.fastwam.request import is_optional_idm, require_weights
from policies.fastwam.runtime import BuildRequest, FastWAMRuntime, build_runtime
from policies.fastwam.stats import check_dims, find_stats_file, identity_stats, input_transforms, output_transforms
from policies.fastwam.text import encode_prompts

IMAGE_KEY = "image"
OPTION_KEYS = ("size", "assets", "seed", "steps", "sigma_shift", "dtype", "stats", "decode_video", "variant",
               "action_infer_mode")
IDM_MODES = ("idm", "first_frame")
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp32": torch.float32, "float32": torch.float32}

DESCRIPTIONS = {
    "fastwam": "Fast-WAM: video co-training, no future imagination at test time (first-frame KV cache + action denoising)",
    "fastwam-novideo": "Fast-WAM without video co-training (same inference path as Fast-WAM)",
    "fastwam-joint": "Fast-WAM-Joint: future video and actions denoised together, actions attend to video",
    "fastwam-idm": "Fast-WAM-IDM: future video denoised first, then actions conditioned on it",
}


class FastWAMPolicy:
    def __init__(self, variant: str, runtime: FastWAMRuntime, layout: BenchmarkLayout, stats: DatasetStats, *, seed: int,
                 text_cache_size: int = 64, action_infer_mode: str | None = None):
        if variant not in VARIANTS:
            raise UsageError(f"unknown Fast-WAM variant {variant!r}; known: {', '.join(VARIANTS)}")
        self.variant = variant
        self.action_infer_mode = action_infer_mode
        # The Optional IDM model's first_frame mode is Fast-WAM's sampler (FastWAM.infer_action upstream).
        self.sampler = "fastwam" if action_infer_mode == "first_frame" else variant
        self.runtime = runtime
        self.layout = layout
        self.stats = stats
        self.seed = int(seed)
        self._text_cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._text_cache_size = text_cache_size
        self.decode_video = runtime.vae_decoder is not None
        if self.decode_video and self.sampler not in ("fastwam-joint", "fastwam-idm"):
            raise UsageError(f"{variant}{' in first_frame mode' if action_infer_mode else ''} imagines no video; "
                             "decode_video applies to fastwam-joint and fastwam-idm (idm mode)")
        self.last_imagined_video: torch.Tensor | None = None  # (B, 3, frames, H, W) in [-1, 1]
        self._passes = _PassCounter()
        # Counted on the modules that do the work, so a reported count is what ran, not what infer()
        # meant to run: the encoder body runs once per encode_frame, the decoder's conv2 once per
        # decoded clip (its body once per latent frame).
        self._passes.watch("vae_encode", runtime.vae.encoder)
        if runtime.vae_decoder is not None:
            self._passes.watch("vae_decode", runtime.vae_decoder.conv2)
        self._info = self._build_info()

    def _build_info(self) -> PolicyInfo:
        rt, cfg = self.runtime, self.runtime.config
        untrained = [] if rt.provenance.network_trained else ["network"]
        if rt.provenance.assets is None:
            untrained.append("VAE and text encoder")
        description = DESCRIPTIONS[self.variant]
        if self.action_infer_mode is not None:
            description += f" (Optional IDM model, {self.action_infer_mode} mode)"
        if untrained:
            description += f" — UNTRAINED: random {' and '.join(untrained)} ({cfg.size} size); actions are meaningless"
        variant_source = rt.provenance.variant_source
        if variant_source and variant_source.startswith("asserted"):
            # A reader of the stored run must see that only the user vouches for what trained the weights.
            description += f" — variant {variant_source}"
        return PolicyInfo(
            name=self.variant,
            action_dim=cfg.action.action_dim,
            horizon=cfg.sampling.action_horizon,
            checkpoint_digest=rt.provenance.checkpoint_digest,
            cameras=self.layout.cameras,
            image_size=(self.layout.height, self.layout.width),
            input_transforms=input_transforms(self.layout, self.stats),
            output_transforms=output_transforms(self.layout, self.stats),
            preferred_presets=dict(PREFERRED_PRESETS),
            trained=rt.trained,
            description=description,
            extra={
                "variant": self.variant,
                "size": cfg.size,
                "device": str(rt.device),
                "dtype": str(rt.dtype).replace("torch.", ""),
                "sampling": {
                    "steps": cfg.sampling.num_steps,
                    "sigma_shift": cfg.sampling.sigma_shift,
                    "cfg_scale": cfg.sampling.cfg_scale,
                    "seed": self.seed,
                    "video_frames": cfg.sampling.video_frames,
                },
                "decode_video": self.decode_video,
                "action_infer_mode": self.action_infer_mode,
                # Settings resolved here (defaults included) that change the actions: hashed into the run
                # identity, so the two modes of one checkpoint are two runs.
                **({"run_identity": {"action_infer_mode": self.action_infer_mode}} if self.action_infer_mode else {}),
                "config_source": rt.provenance.config_source,
                "variant_source": variant_source,
                "checkpoint": rt.provenance.checkpoint,
                "checkpoint_step": rt.provenance.step,
                "assets": rt.provenance.assets,
                "assets_hub": [dataclasses.asdict(f) for f in rt.provenance.assets_hub],
                "stats": self.stats.source,
                "stats_digest": self.stats.digest,
                "parameters": parameter_counts(rt.network),
                "prompt_template": PROMPT_TEMPLATE,
            },
        )

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        # Each chunk depends only on the current observation: nothing is carried between steps.
        return None

    def _text_features(self, prompts: Sequence[str]) -> torch.Tensor:
        """T5 features per prompt; an episode's prompt is encoded once, not at every chunk."""
        rt = self.runtime
        missing = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        fresh = dict(zip(missing, encode_prompts(rt.text_encoder, rt.tokenizer, missing, rt.device, rt.dtype))) if missing else {}
        features = torch.stack([fresh[p] if p in fresh else self._text_cache[p] for p in prompts])
        self._text_cache.update(fresh)
        for p in dict.fromkeys(prompts):
            self._text_cache.move_to_end(p)
        while len(self._text_cache) > self._text_cache_size:
            self._text_cache.popitem(last=False)
        return features

    def _images(self, observations: Sequence[Observation]) -> torch.Tensor:
        want = (self.layout.height, self.layout.width, 3)
        frames = []
        for obs in observations:
            img = obs.images.get(IMAGE_KEY)
            if img is None:
                raise WamEvalError(f"Fast-WAM needs the composed '{IMAGE_KEY}' frame; observation has {sorted(obs.images)}")
            if img.shape != want or img.dtype != np.uint8:
                raise WamEvalError(f"Fast-WAM expects a {want} uint8 '{IMAGE_KEY}', got {img.dtype} {img.shape}")
            frames.append(img)
        x = torch.from_numpy(np.stack(frames)).to(self.runtime.device).permute(0, 3, 1, 2)
        # Cast first, then scale to [-1, 1], the order (and so the rounding) of the released eval.
        return x.to(self.runtime.dtype) * (2.0 / 255.0) - 1.0

    def _states(self, observations: Sequence[Observation]) -> torch.Tensor:
        dim = self.runtime.config.proprio_dim
        rows = []
        for obs in observations:
            s = np.asarray(obs.state, dtype=np.float32).reshape(-1)
            if s.shape[0] != dim:
                raise WamEvalError(f"Fast-WAM expects a {dim}-D normalised state, got {s.shape[0]}-D")
            rows.append(s)
        return torch.from_numpy(np.stack(rows)).to(self.runtime.device)

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        if not observations:
            return []
        rt = self.runtime
        start = time.perf_counter()
        before = self._passes.snapshot()
        with torch.inference_mode():
            images = self._images(observations)
            states = self._states(observations)
            latents = rt.vae.encode_frame(images)
            text = self._text_features([PROMPT_TEMPLATE.format(task=o.instruction) for o in observations])
            cond = Conditioning(frame_latents=latents, context=rt.network.context(text, states))
            noise = draw_noise(rt.config, len(observations), tuple(latents.shape[-2:]), self.seed)
            result = sample(self.sampler, rt.network.mot, rt.config, cond, noise)
            if self.decode_video and result.future_latents is not None:
                clip = torch.cat([latents, result.future_latents], dim=2)
                self.last_imagined_video = rt.vae_decoder.decode(clip)
            actions = result.actions.float().cpu().numpy()
        for kind, count in self._passes.since(before).items():
            setattr(result.calls, kind, count)
        elapsed_ms = (time.perf_counter() - start) * 1000.0
        calls = result.calls.as_dict()
        return [
            ActionChunk(
                actions=a, execute=None,
                info={"variant": self.variant, "mode": self.action_infer_mode, "network_calls": calls, "batch": len(observations), "model_ms": elapsed_ms},
            )
            for a in actions
        ]


class _PassCounter:
    """Forward passes of watched modules, by name, counted by forward hooks."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def watch(self, name: str, module: torch.nn.Module) -> None:
        self.counts.setdefault(name, 0)

        def hook(*_: object) -> None:
            self.counts[name] += 1

        module.register_forward_hook(hook)

    def snapshot(self) -> dict[str, int]:
        return dict(self.counts)

    def since(self, before: Mapping[str, int]) -> dict[str, int]:
        return {name: n - before.get(name, 0) for name, n in self.counts.items()}


def _option(options: Mapping[str, str], key: str) -> str | None:
    value = options.get(key)
    return None if value is None or str(value).strip() == "" else str(value)


def parse_options(ctx: PolicyContext, variant: str | None = None) -> BuildRequest:
    unknown = sorted(set(ctx.options) - set(OPTION_KEYS))
    if unknown:
        raise UsageError(f"unknown Fast-WAM option(s) {', '.join(unknown)}; known: {', '.join(OPTION_KEYS)}")
    opts = ctx.options
    dtype_name = _option(opts, "dtype")
    if dtype_name is not None and dtype_name not in _DTYPES:
        raise UsageError(f"dtype must be one of {', '.join(_DTYPES)}, got {dtype_name!r}")
    size = _option(opts, "size")
    if size is not None and size not in ("tiny", "full"):
        raise UsageError(f"size must be 'tiny' or 'full', got {size!r}")
    require_weights(ctx, variant or "fastwam")
    decode = (_option(opts, "decode_video") or "false").lower()
    if decode not in _BOOLS:
        raise UsageError(f"decode_video must be true or false, got {decode!r}")
    try:
        seed = int(_option(opts, "seed") or ctx.seed)
        steps = int(opts["steps"]) if _option(opts, "steps") else None
        shift = float(opts["sigma_shift"]) if _option(opts, "sigma_shift") else None
    except ValueError as exc:
        raise UsageError(f"bad Fast-WAM option value: {exc}") from None
    asserted = _option(opts, "variant")
    if asserted is not None and asserted != variant:
        # The option vouches for the weights; it cannot turn one factory into another.
        raise UsageError(
            f"variant={asserted} given to the {variant} policy; it only confirms a checkpoint for its own "
            f"policy (use --policy {asserted} with variant={asserted})"
        )
    layout = layout_for(ctx.benchmark)
    if ctx.action_dim != layout.action_dim:
        raise UsageError(f"{ctx.benchmark} reports {ctx.action_dim}-D actions; Fast-WAM's {ctx.benchmark} layout has {layout.action_dim}")
    return BuildRequest(
        device=ctx.device, dtype=_DTYPES[dtype_name] if dtype_name else None, checkpoint=ctx.checkpoint,
        assets=_option(opts, "assets"), size=size, action_dim=layout.action_dim, proprio_dim=layout.state_dim,
        seed=seed, steps=steps, sigma_shift=shift, decode_video=_BOOLS[decode], variant=variant, asserted_variant=asserted,
    )


def _stats_for(ctx: PolicyContext, runtime: FastWAMRuntime, layout: BenchmarkLayout) -> DatasetStats:
    explicit = _option(ctx.options, "stats")
    path = explicit or (find_stats_file(ctx.checkpoint) if ctx.checkpoint else None)
    if path is None:
        if ctx.checkpoint:
            raise UsageError(
                f"no dataset statistics for {ctx.checkpoint}: expected {ctx.checkpoint.rsplit('.', 1)[0]}_dataset_stats.json "
                "beside it, or pass stats=PATH"
            )
        return identity_stats(runtime.config.proprio_dim, runtime.config.action.action_dim)
    stats = DatasetStats.from_json(path)
    check_dims(stats, layout, runtime.config.action.action_dim, runtime.config.proprio_dim)
    return stats


def make_policy(ctx: PolicyContext, variant: str) -> FastWAMPolicy:
    if variant not in VARIANTS:
        raise UsageError(f"unknown Fast-WAM variant {variant!r}; known: {', '.join(VARIANTS)}")
    request = parse_options(ctx, variant)
    layout = layout_for(ctx.benchmark)
    mode = _infer_mode(ctx, variant)
    runtime = build_runtime(request)  # refuses a checkpoint that may not run as `variant`
    stats = _stats_for(ctx, runtime, layout)
    return FastWAMPolicy(variant, runtime, layout, stats, seed=request.seed, action_infer_mode=mode)


def _infer_mode(ctx: PolicyContext, variant: str) -> str | None:
    """The Optional IDM model's inference mode: None for every other model."""
    asked = _option(ctx.options, "action_infer_mode")
    if variant != "fastwam-idm":
        if asked is not None:
            raise UsageError(f"action_infer_mode applies to fastwam-idm (the Optional IDM release), not {variant}")
        return None
    if asked is not None and asked not in IDM_MODES:
        raise UsageError(f"action_infer_mode must be one of {', '.join(IDM_MODES)}, got {asked!r}")
    if not ctx.checkpoint:
        return asked  # random weights: either sampler, when asked (latency and call-pattern checks)
    if not is_optional_idm(ctx.checkpoint):
        if asked == "first_frame":
            raise UsageError(
                f"{ctx.checkpoint} is not the Optional IDM release (libero_optional_idm_*.pt): a plain IDM model was "
                "never trained to act from the first frame alone; only action_infer_mode=idm applies"
            )
        return None
    return asked or "idm"  # upstream's default (EVALUATION.action_infer_mode)


def make_fastwam(ctx: PolicyContext) -> FastWAMPolicy:
    return make_policy(ctx, "fastwam")


def make_fastwam_novideo(ctx: PolicyContext) -> FastWAMPolicy:
    return make_policy(ctx, "fastwam-novideo")


def make_fastwam_joint(ctx: PolicyContext) -> FastWAMPolicy:
    return make_policy(ctx, "fastwam-joint")


def make_fastwam_idm(ctx: PolicyContext) -> FastWAMPolicy:
    return make_policy(ctx, "fastwam-idm")


FACTORIES = {
    "fastwam": "policies.fastwam.policy:make_fastwam",
    "fastwam-novideo": "policies.fastwam.policy:make_fastwam_novideo",
    "fastwam-joint": "policies.fastwam.policy:make_fastwam_joint",
    "fastwam-idm": "policies.fastwam.policy:make_fastwam_idm",
}
