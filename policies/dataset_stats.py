"""Normalisation statistics in the layout Fast-WAM (and LeRobot-style datasets) ship beside a
checkpoint: {"state": {"default": {"global_min": [...], ...}}, "action": {...}}. They become declared
transforms (normalize_state / unnormalize_actions) whose parameters carry the numbers themselves, so
a run's record is complete without the file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from harness.api.errors import UsageError
from policies.transforms import TransformSpec


@dataclass(frozen=True)
class FieldStats:
    min: tuple[float, ...]
    max: tuple[float, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def params(self, mode: str) -> dict[str, Any]:
        if mode == "minmax":
            return {"mode": mode, "low": list(self.min), "high": list(self.max)}
        if mode == "zscore":
            return {"mode": mode, "mean": list(self.mean), "std": list(self.std)}
        raise UsageError(f"normalisation mode {mode!r} is not minmax or zscore")


@dataclass(frozen=True)
class DatasetStats:
    state: FieldStats
    action: FieldStats
    source: str
    digest: str

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str, key: str = "default") -> "DatasetStats":
        def field(name: str) -> FieldStats:
            try:
                block = data[name][key]
                return FieldStats(
                    *(tuple(float(v) for v in block[f"global_{s}"]) for s in ("min", "max", "mean", "std"))
                )
            except KeyError as exc:
                raise UsageError(f"statistics file {source} lacks {name}.{key}.{exc.args[0]}") from None
            except (TypeError, ValueError) as exc:
                raise UsageError(f"statistics file {source}: {name}.{key} is malformed ({exc})") from None

        digest = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]
        return cls(state=field("state"), action=field("action"), source=source, digest=digest)

    @classmethod
    def from_json(cls, path: str | Path, *, key: str = "default") -> "DatasetStats":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"statistics file {path} does not exist (it ships beside the checkpoint)") from None
        except json.JSONDecodeError as exc:
            raise UsageError(f"statistics file {path} is not JSON: {exc}") from None
        return cls.from_mapping(data, source=str(path), key=key)

    def normalize_state(self, mode: str, clip: float = 5.0) -> TransformSpec:
        return TransformSpec("normalize_state", {**self.state.params(mode), "clip": clip})

    def unnormalize_actions(self, mode: str) -> TransformSpec:
        return TransformSpec("unnormalize_actions", self.action.params(mode))
