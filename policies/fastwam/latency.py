"""Per-chunk latency of a Fast-WAM variant: warm-up, then timed `infer` calls, p50/p95 in ms.

`tiny` runs anywhere; `full` builds the released architecture with random weights in bf16 and
needs a CUDA GPU (about 25 GB for the DiT, VAE and umt5 together). What is timed is the policy's
whole `infer`: image to tensor, VAE encode, T5 (cached after the first call, as in an episode),
proprio token, sampling, actions back to the host.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from harness.api.errors import MissingDependencyError, UsageError
from harness.api.types import Observation
from policies.fastwam.config import VARIANTS
from policies.fastwam.layouts import layout_for
from policies.fastwam.network import parameter_counts
from policies.fastwam.policy import FastWAMPolicy
from policies.fastwam.runtime import BuildRequest, build_runtime
from policies.fastwam.stats import identity_stats

# Figure 4 of the paper: one RTX 5090D V2 32GB, real-robot task, ms per action chunk.
PAPER_HARDWARE = "RTX 5090D V2 32GB"
PAPER_LATENCY_MS = {"fastwam": 190.0, "fastwam-novideo": 190.0, "fastwam-joint": 580.0, "fastwam-idm": 810.0}


@dataclass(frozen=True)
class LatencyResult:
    variant: str
    size: str
    decode_video: bool
    device: str
    device_name: str
    dtype: str
    benchmark: str
    batch: int
    warmup: int
    iterations: int
    threads: int
    p50_ms: float
    p95_ms: float
    mean_ms: float
    min_ms: float
    max_ms: float
    network_calls: dict[str, int]
    parameters: dict[str, int]
    samples_ms: list[float] = field(repr=False, default_factory=list)
    paper_ms: float | None = None
    paper_hardware: str = PAPER_HARDWARE

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    return platform.processor() or platform.machine() or "cpu"


def synthetic_observation(benchmark: str, state_dim: int, seed: int = 0) -> Observation:
    layout = layout_for(benchmark)
    rng = np.random.default_rng(seed)
    return Observation(
        images={"image": rng.integers(0, 256, (layout.height, layout.width, 3), dtype=np.uint8)},
        state=rng.uniform(-1, 1, state_dim).astype(np.float32),
        instruction="pick up the black bowl and place it on the plate",
    )


def measure_latency(
    variant: str,
    size: str = "tiny",
    *,
    device: str | None = None,
    warmup: int = 3,
    iterations: int = 20,
    batch: int = 1,
    benchmark: str = "libero",
    seed: int = 0,
    dtype: torch.dtype | None = None,
    decode_video: bool = False,
) -> LatencyResult:
    """`decode_video` (Joint/IDM) adds the VAE decode of the imagined clip that the released IDM
    inference performs at every chunk."""
    if variant not in VARIANTS:
        raise UsageError(f"unknown Fast-WAM variant {variant!r}; known: {', '.join(VARIANTS)}")
    if size not in ("tiny", "full"):
        raise UsageError(f"size must be 'tiny' or 'full', got {size!r}")
    if iterations < 1 or warmup < 0 or batch < 1:
        raise UsageError("need iterations >= 1, warmup >= 0, batch >= 1")
    if device is None:
        device = "cuda" if size == "full" else "cpu"
    dev = torch.device(device)
    if size == "full" and (dev.type != "cuda" or not torch.cuda.is_available()):
        raise MissingDependencyError(
            "full-size Fast-WAM latency needs a CUDA GPU (about 25 GB in bf16); "
            f"this machine has {'no CUDA' if not torch.cuda.is_available() else 'CUDA, but device=' + device}. "
            "Use size=tiny on a CPU."
        )
    layout = layout_for(benchmark)
    runtime = build_runtime(
        BuildRequest(device=device, dtype=dtype, size=size, action_dim=layout.action_dim, proprio_dim=layout.state_dim,
                     seed=seed, allow_random_full=True, decode_video=decode_video)
    )
    stats = identity_stats(layout.state_dim, layout.action_dim)
    policy = FastWAMPolicy(variant, runtime, layout, stats, seed=seed)
    observations = [synthetic_observation(benchmark, layout.state_dim, seed=i) for i in range(batch)]

    def call() -> float:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        start = time.perf_counter()
        chunks = policy.infer(observations)  # returns host arrays, so the GPU work is finished
        elapsed = (time.perf_counter() - start) * 1000.0
        call.calls = chunks[0].info["network_calls"]  # type: ignore[attr-defined]
        return elapsed

    for _ in range(warmup):
        call()
    samples = [call() for _ in range(iterations)]
    return LatencyResult(
        variant=variant, size=size, decode_video=decode_video, device=str(dev), device_name=_device_name(dev),
        dtype=str(runtime.dtype).replace("torch.", ""), benchmark=benchmark, batch=batch, warmup=warmup,
        iterations=iterations, threads=torch.get_num_threads(),
        p50_ms=float(np.percentile(samples, 50)), p95_ms=float(np.percentile(samples, 95)),
        mean_ms=float(statistics.fmean(samples)), min_ms=float(min(samples)), max_ms=float(max(samples)),
        network_calls=dict(call.calls), parameters=parameter_counts(runtime.network),  # type: ignore[attr-defined]
        samples_ms=[round(s, 3) for s in samples], paper_ms=PAPER_LATENCY_MS.get(variant),
    )
