"""Policy-side transforms: declared as data by a policy, applied by the harness on the worker.

A transform is named by a `TransformSpec` (a name and JSON-able parameters), so that it can be
recorded with a run, compared between runs and sent over the wire to a remote worker. The
functions that execute the names live in `TRANSFORMS`; each takes an Observation (input side) or an
ActionChunk (output side) plus the spec's parameters, and returns a new one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from harness.api.types import ActionChunk, Observation


@dataclass(frozen=True)
class TransformSpec:
    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a uint8 HxWx3 frame (PIL, as openpi and most LIBERO policies do)."""
    if image.shape[0] == height and image.shape[1] == width:
        return image
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))


def _resize(obs: Observation, *, height: int, width: int, cameras: Sequence[str] | None = None) -> Observation:
    images = {
        name: resize_image(img, height, width) if cameras is None or name in cameras else img
        for name, img in obs.images.items()
    }
    return dataclasses.replace(obs, images=images)


def _select_cameras(obs: Observation, *, cameras: Sequence[str]) -> Observation:
    return dataclasses.replace(obs, images={name: obs.images[name] for name in cameras if name in obs.images})


def _clip_actions(chunk: ActionChunk, *, low: float | Sequence[float], high: float | Sequence[float]) -> ActionChunk:
    return dataclasses.replace(chunk, actions=np.clip(chunk.actions, np.asarray(low), np.asarray(high)))


def _compose_cameras(
    obs: Observation, *, key: str, height: int, width: int, tiles: Sequence[Mapping[str, Any]]
) -> Observation:
    """Several cameras on one canvas (Fast-WAM feeds its VAE one image): each tile names a camera
    and the box it is resized into. The composed image replaces the separate ones."""
    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for tile in tiles:
        camera, top, left, h, w = (
            tile["camera"],
            int(tile["top"]),
            int(tile["left"]),
            int(tile["height"]),
            int(tile["width"]),
        )
        if top < 0 or left < 0 or top + h > height or left + w > width:
            raise ValueError(f"tile for {camera} ({top},{left},{h}x{w}) falls outside the {height}x{width} image")
        if camera not in obs.images:
            raise KeyError(f"camera {camera!r} was not rendered (have: {', '.join(obs.images) or 'none'})")
        canvas[top : top + h, left : left + w] = resize_image(obs.images[camera], h, w)
    return dataclasses.replace(obs, images={key: canvas})


def _check_width(values: np.ndarray, stats: np.ndarray, what: str) -> None:
    if values.shape[-1] != stats.shape[-1]:
        raise ValueError(f"{what} has {values.shape[-1]} dims; the normalisation statistics have {stats.shape[-1]}")


# Below this range a dimension is treated as constant (the official normaliser does the same).
_MIN_RANGE = 1e-4
_STD_EPS = 1e-8


def normalize(
    x: np.ndarray, *, mode: str, low=None, high=None, mean=None, std=None, clip: float | None = 5.0
) -> np.ndarray:
    """min/max to [-1, 1] or z-score, then clipped to +-clip, as Fast-WAM's normaliser does."""
    x = np.asarray(x, dtype=np.float64)
    if mode == "minmax":
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        _check_width(x, low, "state")
        span = high - low
        flat = span < _MIN_RANGE
        out = np.where(flat, x - low, (x - low) * 2.0 / np.where(flat, 1.0, span) - 1.0)
    elif mode == "zscore":
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        _check_width(x, mean, "state")
        out = (x - mean) / (std + _STD_EPS)
    else:
        raise ValueError(f"normalisation mode {mode!r} is not minmax or zscore")
    return np.clip(out, -clip, clip) if clip is not None else out


def unnormalize(x: np.ndarray, *, mode: str, low=None, high=None, mean=None, std=None) -> np.ndarray:
    """The inverse of `normalize` (without its clip)."""
    x = np.asarray(x, dtype=np.float64)
    if mode == "minmax":
        low, high = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        _check_width(x, low, "action")
        span = high - low
        flat = span < _MIN_RANGE
        return np.where(flat, x + low, (x + 1.0) / 2.0 * span + low)
    if mode == "zscore":
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        _check_width(x, mean, "action")
        return x * (std + _STD_EPS) + mean
    raise ValueError(f"normalisation mode {mode!r} is not minmax or zscore")


def _normalize_state(obs: Observation, **params: Any) -> Observation:
    return dataclasses.replace(obs, state=normalize(obs.state, **params).astype(np.float32))


def _unnormalize_actions(chunk: ActionChunk, **params: Any) -> ActionChunk:
    return dataclasses.replace(chunk, actions=unnormalize(chunk.actions, **params))


def _libero_gripper(chunk: ActionChunk, *, index: int = -1, binarize: bool = True) -> ActionChunk:
    """Fast-WAM's LIBERO gripper post-processing: the dataset says 0 = close, 1 = open; the env takes
    -1 = open, +1 = close. In the official order: g*2-1, then sign flip, then sign() when binarizing."""
    actions = np.array(chunk.actions, dtype=np.float64, copy=True)
    g = actions[..., index] * 2.0 - 1.0
    g = -g
    actions[..., index] = np.sign(g) if binarize else g
    return dataclasses.replace(chunk, actions=actions)


TRANSFORMS: Mapping[str, Callable[..., Any]] = {
    # input side: Observation -> Observation
    "resize": _resize,
    "select_cameras": _select_cameras,
    "compose_cameras": _compose_cameras,
    "normalize_state": _normalize_state,
    # output side: ActionChunk -> ActionChunk
    "unnormalize_actions": _unnormalize_actions,
    "libero_gripper": _libero_gripper,
    "clip_actions": _clip_actions,
}


def apply_transforms(
    value: Any, specs: Sequence[TransformSpec], registry: Mapping[str, Callable[..., Any]] = TRANSFORMS
) -> Any:
    for spec in specs:
        try:
            fn = registry[spec.name]
        except KeyError:
            raise KeyError(f"unknown transform {spec.name!r}; known: {', '.join(sorted(registry))}") from None
        value = fn(value, **dict(spec.params))
    return value
