"""The released Fast-WAM checkpoint format: reading, checking and writing it.

A checkpoint is one torch pickle holding a dict:
- "mot": the MoT state dict (`mixtures.video.*`, `mixtures.action.*`);
- "proprio_encoder": the state dict of Linear(proprio_dim, 4096) (`weight`, `bias`);
- "step", "torch_dtype" (a string), and optionally "optimizer".
Files written here add "wam_eval_config" (the full FastWAMConfig plus, normally, the variant) which
the official loader never reads. A released checkpoint has no config, so its architecture is the
released one, with the action and proprio widths read from the tensor shapes.

A file that records no variant runs only as the variant its name implies (see `variant_from_name`)
or as the one the user names with the `variant` policy option; see `resolve_variant`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.api.errors import UsageError, WamEvalError
from policies.fastwam.config import FastWAMConfig, full_config
from policies.fastwam.network import FastWAMNetwork
from policies.fastwam.request import is_optional_idm
from policies.fastwam.weights import WeightsMismatchError, compare_state

CONFIG_KEY = "wam_eval_config"

# All variants have the same tensors (configs/model/fastwam*.yaml differ only in `_target_`), so the
# weights cannot say which objective trained them. The official task names can
# (configs/task/<bench>_<kind>_<cameras>_1e-4.yaml, kind uncond = Fast-WAM, joint, idm), and the
# released files are named after their task: libero_uncond_2cam224.pt, robotwin_uncond_3cam_384.pt.
# The later Optional IDM release (libero_optional_idm_2cam224.pt, task libero_optional_idm_2cam224_1e-4)
# has 'idm' in its name and runs as fastwam-idm; 'optional' marks it as the one model that can also act
# from the first frame alone (see policies.fastwam.request.is_optional_idm and the policy's action_infer_mode).
# No name implies "without video co-training": nothing of it was released, so it always needs the
# user's word.
NAME_VARIANTS = {"uncond": "fastwam", "joint": "fastwam-joint", "idm": "fastwam-idm"}


# How released files sample, as the official README says to evaluate them: the original releases with
# `EVALUATION.sigma_shift=5.0` ("to reproduce the original setting"; the upstream default later became
# 1.0), the Optional IDM release with `EVALUATION.sigma_shift=1.0` ("trained with action scheduler
# shift 1.0"). 10 steps for both (configs/sim_libero.yaml num_inference_steps).
RELEASED_STEPS = 10
RELEASED_SIGMA_SHIFT = 5.0
OPTIONAL_IDM_SIGMA_SHIFT = 1.0


def released_sampling(path: str | Path) -> tuple[float, str]:
    """(sigma shift, why) for a released file, which records no sampling settings."""
    if is_optional_idm(path):
        return OPTIONAL_IDM_SIGMA_SHIFT, (
            f"{RELEASED_STEPS} steps, sigma shift {OPTIONAL_IDM_SIGMA_SHIFT} (the Optional IDM release: official README, "
            "'trained with action scheduler shift 1.0', evaluated with EVALUATION.sigma_shift=1.0)"
        )
    return RELEASED_SIGMA_SHIFT, (
        f"{RELEASED_STEPS} steps, sigma shift {RELEASED_SIGMA_SHIFT} (the original releases: official README, "
        "EVALUATION.sigma_shift=5.0 reproduces the original setting; configs/train.yaml eval_num_inference_steps)"
    )


class CheckpointMismatchError(WeightsMismatchError):
    """The checkpoint's tensors do not fit the Fast-WAM architecture."""


@dataclass(frozen=True)
class LoadedCheckpoint:
    path: Path
    network: FastWAMNetwork
    config: FastWAMConfig
    variant: str | None  # as recorded in the file; None for released checkpoints
    config_source: str  # where the architecture and sampling settings came from
    step: int | None
    variant_source: str | None = None  # why it may run as the variant asked for (None: not asked)


def read_payload(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"checkpoint {path} does not exist")
    try:
        try:
            # Memory-mapping keeps a 12 GB checkpoint out of RAM until its tensors move to the GPU.
            payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # files in torch's legacy (non-zip) format cannot be mapped
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a pickle holding arbitrary objects, a truncated file, ...
        raise WamEvalError(f"cannot read checkpoint {path}: {exc}") from exc
    if not isinstance(payload, Mapping) or "mot" not in payload:
        keys = sorted(payload) if isinstance(payload, Mapping) else type(payload).__name__
        raise WamEvalError(f"{path} is not a Fast-WAM checkpoint: no 'mot' entry (top level: {keys})")
    return dict(payload)


def flat_state(payload: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """mot.* and proprio_encoder.* tensors under one namespace, as FastWAMNetwork names them."""
    state = {f"mot.{k}": v for k, v in payload["mot"].items()}
    state.update({f"proprio_encoder.{k}": v for k, v in (payload.get("proprio_encoder") or {}).items()})
    return state


def config_from_payload(payload: Mapping[str, Any], path: Path) -> tuple[FastWAMConfig, str | None, str]:
    recorded = payload.get(CONFIG_KEY)
    if isinstance(recorded, Mapping):
        return FastWAMConfig.from_dict(recorded["model"]), recorded.get("variant"), "checkpoint (wam_eval_config)"
    action_in = payload["mot"].get("mixtures.action.action_encoder.weight")
    proprio_in = (payload.get("proprio_encoder") or {}).get("weight")
    absent = [name for name, t in (("mot.mixtures.action.action_encoder.weight", action_in), ("proprio_encoder.weight", proprio_in)) if t is None]
    if absent:
        raise CheckpointMismatchError(
            f"checkpoint {path}", missing=absent, hint="the action and proprio widths are read from these tensors"
        )
    shift, why = released_sampling(path)
    config = full_config(action_dim=int(action_in.shape[1]), proprio_dim=int(proprio_in.shape[1]))
    config = config.with_sampling(num_steps=RELEASED_STEPS, sigma_shift=shift)
    return config, None, f"released architecture (configs/model/fastwam*.yaml); sampling: {why}"


def variant_from_name(path: str | Path) -> tuple[str | None, str | None]:
    """(variant, the word of the file name that implies it), or (None, None) when the name implies
    no variant or more than one."""
    words = set(re.split(r"[^a-z0-9]+", Path(path).stem.lower()))
    found = {NAME_VARIANTS[w]: w for w in sorted(words) if w in NAME_VARIANTS}
    if len(found) != 1:
        return None, None
    return next(iter(found.items()))


def resolve_variant(path: str | Path, recorded: str | None, wanted: str, asserted: str | None = None) -> str:
    """Whether the file at `path` may run as `wanted`, and on what evidence (returned as a sentence
    for the run record). `asserted` is the user's `variant` option, already checked to equal `wanted`.

    Nothing in a file without a recorded variant stops the wrong factory from running it, so a
    released Fast-WAM file would otherwise report a "without video co-training" result."""
    path = Path(path)
    if recorded is not None:
        if recorded != wanted:
            raise UsageError(f"{path} holds a {recorded} model; it cannot run as {wanted}")
        return f"recorded in the checkpoint ({CONFIG_KEY})"
    implied, word = variant_from_name(path)
    if asserted is not None:
        named = f"; its name implies {implied}" if implied not in (None, wanted) else ""
        return f"asserted by the user (variant={asserted}); the checkpoint records none{named}"
    if implied == wanted:
        return f"implied by the file name ('{word}' in {path.name}, the official task naming); the checkpoint records none"
    said = f"its name implies {implied} ('{word}')" if implied else "its name implies none (no 'uncond', 'joint' or 'idm')"
    raise UsageError(
        f"checkpoint {path} records no variant and {said}, not {wanted}; "
        f"if its weights really are {wanted}'s, pass --policy-option variant={wanted}"
    )


def load_checkpoint(
    path: str | Path, *, device: torch.device | str, dtype: torch.dtype,
    run_as: str | None = None, asserted_variant: str | None = None,
) -> LoadedCheckpoint:
    """Read, verify every name and shape, and build the network on `device` in `dtype`.

    With `run_as`, a refusal (see `resolve_variant`) comes before any tensor is checked or copied:
    a released file is 12 GB."""
    path = Path(path)
    payload = read_payload(path)
    recorded = payload.get(CONFIG_KEY)
    recorded_variant = recorded.get("variant") if isinstance(recorded, Mapping) else None
    variant_source = resolve_variant(path, recorded_variant, run_as, asserted_variant) if run_as else None
    config, variant, source = config_from_payload(payload, path)
    state = flat_state(payload)
    with torch.device("meta"):
        skeleton = FastWAMNetwork(config)
    missing, unexpected, wrong = compare_state(skeleton.state_dict(), state)
    if missing or unexpected or wrong:
        raise CheckpointMismatchError(
            f"checkpoint {path}", missing, unexpected, wrong,
            hint=f"expected a {config.size} Fast-WAM with {config.action.action_dim}-D actions and "
            f"{config.proprio_dim}-D proprio",
        )
    skeleton.load_state_dict(state, strict=True, assign=True)
    network = skeleton.to(device=device, dtype=dtype).eval().requires_grad_(False)
    step = payload.get("step")
    return LoadedCheckpoint(
        path=path, network=network, config=config, variant=variant, config_source=source,
        step=int(step) if isinstance(step, int) else None, variant_source=variant_source,
    )


def save_checkpoint(path: str | Path, network: FastWAMNetwork, *, variant: str | None, step: int = 0) -> Path:
    """Write `network` in the released layout (plus our config record). `variant=None` records
    none, as a released file records none: the file then needs its name or the user to say."""
    path = Path(path)
    record: dict[str, Any] = {"model": network.config.to_dict()}
    if variant is not None:
        record["variant"] = variant
    payload = {
        "mot": {k: v.detach().cpu() for k, v in network.mot.state_dict().items()},
        "proprio_encoder": {k: v.detach().cpu() for k, v in network.proprio_encoder.state_dict().items()},
        "step": int(step),
        "torch_dtype": str(next(network.parameters()).dtype),
        CONFIG_KEY: record,
    }
    torch.save(payload, path)
    return path


def file_digest(path: str | Path, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return "sha256:" + h.hexdigest()
