"""Loading named tensors into modules, with one clear error when names or shapes disagree."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable, Mapping, TypeVar

import torch
import torch.nn as nn

from harness.api.errors import MissingDependencyError, WamEvalError

M = TypeVar("M", bound=nn.Module)

_SHOWN = 20  # names listed per category before "... and N more"


class WeightsMismatchError(WamEvalError):
    """A weights file does not fit the module built for it."""

    def __init__(
        self,
        source: str,
        missing: Iterable[str] = (),
        unexpected: Iterable[str] = (),
        wrong_shape: Mapping[str, tuple[tuple[int, ...], tuple[int, ...]]] | None = None,
        hint: str = "",
    ):
        self.source = source
        self.missing = sorted(missing)
        self.unexpected = sorted(unexpected)
        self.wrong_shape = dict(sorted((wrong_shape or {}).items()))
        parts = [f"{source} does not match the model"]
        if self.missing:
            parts.append(f"missing keys ({len(self.missing)}): {_listing(self.missing)}")
        if self.unexpected:
            parts.append(f"unexpected keys ({len(self.unexpected)}): {_listing(self.unexpected)}")
        if self.wrong_shape:
            shapes = [f"{k} {tuple(got)} != expected {tuple(want)}" for k, (got, want) in self.wrong_shape.items()]
            parts.append(f"wrong shapes ({len(shapes)}): {_listing(shapes)}")
        if hint:
            parts.append(hint)
        super().__init__("; ".join(parts))


def _listing(names: list[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    return shown + (f", ... and {len(names) - _SHOWN} more" if len(names) > _SHOWN else "")


def compare_state(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> tuple[set[str], set[str], dict[str, tuple[tuple[int, ...], tuple[int, ...]]]]:
    missing = set(expected) - set(given)
    unexpected = set(given) - set(expected)
    wrong = {
        k: (tuple(given[k].shape), tuple(expected[k].shape))
        for k in set(expected) & set(given)
        if tuple(given[k].shape) != tuple(expected[k].shape)
    }
    return missing, unexpected, wrong


def materialize(
    build: Callable[[], M],
    state: Mapping[str, torch.Tensor],
    *,
    source: str,
    device: torch.device | str,
    dtype: torch.dtype,
    hint: str = "",
) -> M:
    """Build a module without allocating it, check `state` covers it exactly, then adopt the tensors.

    Creating on the meta device means a multi-billion-parameter model never exists twice in memory.
    """
    with torch.device("meta"):
        module = build()
    missing, unexpected, wrong = compare_state(module.state_dict(), state)
    if missing or unexpected or wrong:
        raise WeightsMismatchError(source, missing, unexpected, wrong, hint)
    module.load_state_dict(dict(state), strict=True, assign=True)
    return module.to(device=device, dtype=dtype).eval().requires_grad_(False)


def read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        from safetensors.torch import load_file
    except ImportError as exc:
        raise MissingDependencyError(f"reading {path.name} needs the `safetensors` package: pip install safetensors") from exc
    return load_file(str(path), device="cpu")


def read_tensor_file(path: Path) -> dict[str, torch.Tensor]:
    """A .safetensors file, or a torch pickle holding a flat name -> tensor dict."""
    if path.suffix == ".safetensors":
        return read_safetensors(path)
    payload = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(payload, Mapping) and "model_state" in payload:
        payload = payload["model_state"]
    if not isinstance(payload, Mapping):
        raise WamEvalError(f"{path} holds {type(payload).__name__}, not a dict of tensors")
    return dict(payload)
