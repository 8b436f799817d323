"""The Policy protocol: what every policy (smoke baselines, Fast-WAM, remote, user code) provides.

Batched by design: `infer` takes many observations, possibly from different episodes, so one GPU
process can serve many simulator workers. Stateful policies key their state by
`Observation.episode_id` and clear it in `reset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from harness.api.types import ActionChunk, EpisodeKey, Observation, PresetRef
from policies.transforms import TransformSpec


@dataclass(frozen=True)
class PolicyInfo:
    """What a policy declares about itself; recorded with every run and checked before it starts.

    cameras: the camera names it reads; None = every camera the preset renders; () = none, so
      nothing is rendered for it at all.
    image_size: (height, width) it wants, informational once its input transforms produce it.
    input_transforms / output_transforms: declared, recorded data applied by the harness on the
      worker side (see policies.transforms); the env never guesses what a policy wants.
    preferred_presets: benchmark -> preset name used when the user names none.
    trained: False for random or untrained weights, which reports say plainly; None for a policy that
      has no weights at all (the noop and random smoke policies).
    privileged: True for an oracle that acts on the simulator's privileged state (object poses, the
      scripted expert's plan) instead of what a learned policy sees: its success rate measures the
      harness and the benchmark, and runs and reports mark it ORACLE, never beside learned policies
      as a peer.
    extra: anything else worth recording; extra["run_identity"] (a JSON-able mapping), when present, holds
      settings the policy resolved itself that change its actions, and is hashed into the run identity.
    """

    name: str
    action_dim: int
    horizon: int
    checkpoint_digest: str = "none"
    cameras: tuple[str, ...] | None = None
    image_size: tuple[int, int] | None = None
    input_transforms: tuple[TransformSpec, ...] = ()
    output_transforms: tuple[TransformSpec, ...] = ()
    preferred_presets: Mapping[str, str] = field(default_factory=dict)
    trained: bool | None = True
    privileged: bool = False
    description: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PolicyContext:
    """What a policy factory is told about the run it will serve."""

    benchmark: str
    action_dim: int
    noop_action: tuple[float, ...]
    seed: int = 0
    # The chunk length the protocol preset expects (fastwam-libero: 32), when it fixes one.
    action_horizon: int | None = None
    checkpoint: str | None = None
    device: str = "cpu"
    options: Mapping[str, str] = field(default_factory=dict)
    # The protocol preset of the run (None where a policy is built without one): which protocol it
    # serves. What the policy must adapt to is in the fields above.
    preset: PresetRef | None = None


@runtime_checkable
class Policy(Protocol):
    def info(self) -> PolicyInfo: ...

    def reset(self, episode: EpisodeKey) -> None: ...

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]: ...
