"""Typed records that cross the seams between envs, policies, the engine and the store.

Everything here is plain data: picklable (Ray moves it between processes) and convertible to
JSON-able dicts (the store and the wire keep it).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import numpy as np


@dataclass(frozen=True, order=True)
class EpisodeKey:
    """One episode of one benchmark: the unit of scheduling, storage and resume.

    `task` is the task's stable name (not its index, which differs between task orders);
    `episode` is the index of the fixed initial state (LIBERO) or of the validated seed (RoboTwin).
    """

    benchmark: str
    suite: str
    task: str
    setting: str
    episode: int

    @property
    def id(self) -> str:
        return f"{self.benchmark}/{self.suite}/{self.task}/{self.setting}/{self.episode}"

    @classmethod
    def from_id(cls, text: str) -> "EpisodeKey":
        parts = text.split("/")
        if len(parts) != 5:
            raise ValueError(f"episode id {text!r} is not benchmark/suite/task/setting/episode")
        return cls(parts[0], parts[1], parts[2], parts[3], int(parts[4]))

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class Observation:
    """What the policy sees at one decision point.

    images: camera name -> uint8 HxWx3, already in the preset's orientation. Empty when the
      harness knows the policy reads no frame at this step (render on demand).
    state: the benchmark's proprio vector (LIBERO: 8-D eef pos, axis-angle, 2 gripper joints;
      RoboTwin: 14-D joint positions).
    """

    images: dict[str, np.ndarray]
    state: np.ndarray
    instruction: str
    episode_id: str = ""
    step: int = 0
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass
class ActionChunk:
    """A policy's answer for one observation.

    actions: float (horizon x action_dim). `execute`: how many to run before asking again;
    None lets the protocol preset decide. `info` carries per-call facts the policy wants stored
    (server timing for remote policies, for example).
    """

    actions: np.ndarray
    execute: int | None = None
    info: dict[str, Any] = field(default_factory=dict)
    # Of the call's wall time, how long this answer waited outside the policy's own work (a remote
    # server's network, queue and reconnects): the harness books it as queue time, not policy time.
    queue_ms: float = 0.0


class EndReason(str, enum.Enum):
    SUCCESS = "success"
    HORIZON = "horizon"
    ERROR = "error"


class ErrorSource(str, enum.Enum):
    """What an error row blames; the engine acts on it (rebuild the env, retry the episode)."""

    ENV = "env"  # the simulator faulted (or could not be built): the worker rebuilds its env
    POLICY = "policy"  # the policy raised or answered badly: the policy's failure, not retried
    POLICY_SERVER = "policy_server"  # the shared policy actor died under the request: retried
    WORKER = "worker"  # the worker died, or its own code raised: retried, then stored
    PREPARATION = "preparation"  # the benchmark could not prepare the episode (RoboTwin: too few seeds)


# Where an error row keeps its ErrorSource: in the stored extra, as the source's value.
ERROR_SOURCE_KEY = "error_source"


class DriftVerdict(str, enum.Enum):
    """Whether an episode started from the reference simulator state (LIBERO's golden states)."""

    OK = "ok"
    DRIFT = "drift"
    NO_REFERENCE = "no reference"  # nothing recorded for this task, init state or warm-up length


@dataclass(frozen=True)
class DriftCheck:
    """The env's own check after warm-up, before the first policy call: the largest deviation of its
    state from the reference state (None when there is no reference) and the verdict."""

    deviation: float | None
    verdict: DriftVerdict


@dataclass
class EpisodeTimings:
    """Wall-clock milliseconds summed over one episode, split by where the time went."""

    env_ms: float = 0.0  # physics of every step (warm-up and policy steps), rendering excluded
    render_ms: float = 0.0  # every frame rendered (the reset's included): only those the policy read
    policy_ms: float = 0.0  # inside the policy (transforms + inference)
    queue_ms: float = 0.0  # waiting for a shared policy actor or a remote server
    total_ms: float = 0.0  # the whole episode, wall clock: at least the sum of the parts above
    reset_ms: float = 0.0  # the env's reset, its rendering excluded

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass
class EpisodeResult:
    key: EpisodeKey
    success: bool
    steps: int  # env steps under the policy, warm-up steps excluded
    end_reason: EndReason
    instruction: str = ""
    error: str | None = None
    policy_calls: int = 0
    warmup_steps: int = 0
    timings: EpisodeTimings = field(default_factory=EpisodeTimings)
    seed: int | None = None
    # Benchmark- or policy-specific facts worth keeping (per-request latencies, video path...).
    extra: dict[str, Any] = field(default_factory=dict)
    worker: str = ""
    node: str = ""
    attempts: int = 1
    # The env's check of its own state after warm-up (LIBERO: against the golden states); None for
    # benchmarks that make none. `drift_verdict` is a DriftVerdict value.
    drift: float | None = None
    drift_verdict: str | None = None

    @classmethod
    def failed(cls, key: EpisodeKey, source: ErrorSource, error: str, **fields: Any) -> "EpisodeResult":
        """The one way to build an error row: what went wrong and whom it blames (`fields`: any
        other field, e.g. the steps and timings an episode had reached)."""
        result = cls(
            key=key, success=False, steps=fields.pop("steps", 0), end_reason=EndReason.ERROR, error=error, **fields
        )
        result.blame(source)
        return result

    @property
    def error_source(self) -> ErrorSource | None:
        value = self.extra.get(ERROR_SOURCE_KEY)
        try:
            return ErrorSource(value) if value else None
        except ValueError:  # written by a newer version
            return None

    def blame(self, source: ErrorSource) -> None:
        """Say whom this error row blames (the shared policy actor's client does, for a request
        that died with the actor)."""
        self.extra[ERROR_SOURCE_KEY] = ErrorSource(source).value

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = self.key.as_dict()
        row.update(
            episode_id=self.key.id,
            success=bool(self.success),
            steps=int(self.steps),
            end_reason=EndReason(self.end_reason).value,
            instruction=self.instruction,
            error=self.error,
            policy_calls=self.policy_calls,
            warmup_steps=self.warmup_steps,
            seed=self.seed,
            worker=self.worker,
            node=self.node,
            attempts=self.attempts,
            drift=self.drift,
            drift_verdict=self.drift_verdict,
        )
        row.update(self.timings.as_dict())
        return row


@dataclass(frozen=True)
class Tile:
    """Where one camera goes in a composed image; the frame is resized into the box."""

    camera: str
    top: int
    left: int
    height: int
    width: int

    def as_params(self) -> dict[str, Any]:
        return {"camera": self.camera, "top": self.top, "left": self.left, "height": self.height, "width": self.width}


@dataclass(frozen=True, eq=False)
class ImageLayout:
    """What a protocol feeds the policy: each rendered camera as it is (`per_camera`), or one image
    named `key`, height x width, composed of tiles (`composed`).

    It still reads as the table the preset file holds (`layout["tiles"]`, `== {...}`): presets,
    the compose transform's params and stored runs carry it in that shape."""

    kind: str = "per_camera"  # or "composed"
    key: str = "image"
    height: int = 0
    width: int = 0
    tiles: tuple[Tile, ...] = ()

    KINDS = ("per_camera", "composed")

    @property
    def composed(self) -> bool:
        return self.kind == "composed"

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "ImageLayout":
        """From the preset table (or the compose transform's params, kind omitted); ValueError,
        KeyError or TypeError say what is wrong."""
        kind = data.get("kind", "composed")
        if kind not in cls.KINDS:
            raise ValueError(f"image_layout.kind must be per_camera or composed, not {kind!r}")
        if kind == "per_camera":
            return cls()
        tiles = tuple(
            Tile(str(t["camera"]), int(t["top"]), int(t["left"]), int(t["height"]), int(t["width"]))
            for t in data["tiles"] or ()
        )
        return cls(
            kind=kind,
            key=str(data.get("key", "image")),
            height=int(data["height"]),
            width=int(data["width"]),
            tiles=tiles,
        )

    def outside(self) -> list[Tile]:
        """Tiles that do not fit in the image."""
        return [t for t in self.tiles if t.top + t.height > self.height or t.left + t.width > self.width]

    def as_json(self) -> dict[str, Any]:
        if not self.composed:
            return {"kind": self.kind}
        return {
            "kind": self.kind,
            "key": self.key,
            "height": self.height,
            "width": self.width,
            "tiles": [t.as_params() for t in self.tiles],
        }

    def describe(self) -> str:
        """One line for humans: 'composed 224x448 'image': agentview@(0,0) 224x224, ...'."""
        if not self.composed:
            return "per camera, as rendered"
        tiles = ", ".join(f"{t.camera}@({t.top},{t.left}) {t.height}x{t.width}" for t in self.tiles)
        return f"composed {self.height}x{self.width} '{self.key}': {tiles}"

    # -- the preset table's face ----------------------------------------------------------------
    def __getitem__(self, name: str) -> Any:
        return self.as_json()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.as_json().get(name, default)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImageLayout):
            return self.as_json() == other.as_json()
        if isinstance(other, Mapping):
            return self.as_json() == dict(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.kind, self.key, self.height, self.width, self.tiles))


@dataclass(frozen=True)
class TaskInfo:
    """A task as a benchmark lists it."""

    benchmark: str
    suite: str
    name: str
    index: int
    instruction: str
    episodes: int  # how many distinct episodes the benchmark defines for it
    settings: tuple[str, ...] = ("default",)
    # The suite whose step limit applies where a preset names none for this task's own suite (a
    # perturbed suite runs as long as the suite it perturbs); "" for none.
    limits_from: str = ""

    @property
    def key(self) -> str:
        """Unique across suites (a perturbed suite's tasks keep their base task's names)."""
        return f"{self.suite}/{self.name}"


@dataclass(frozen=True)
class PrepItem:
    """One piece of work a benchmark needs done, in a worker, before some episodes can run
    (RoboTwin: a chunk of candidate seeds for its scripted expert to check).

    Its verdicts are stored under (benchmark, task, setting, protocol), one per candidate. `key` is
    stable: the same work gets the same key in every invocation, so work in flight is never handed
    out twice.
    """

    key: str
    task: str
    setting: str
    protocol: str  # digest of what decides a verdict; verdicts under another protocol are not reused
    candidates: tuple[int, ...]  # what to check, in order
    label: str = ""  # for progress lines: "stack_blocks_two/clean seeds 100000-100004"


@dataclass(frozen=True)
class Verdict:
    """What a worker found about one candidate of a PrepItem."""

    candidate: int
    accepted: bool
    payload: Mapping[str, Any] = field(default_factory=dict)  # JSON-able facts: why not, what was found


@dataclass
class PrepResult:
    item: PrepItem
    verdicts: list[Verdict]
    seconds: float = 0.0
    worker: str = ""
    node: str = ""


@dataclass(frozen=True)
class EpisodeParams:
    """What preparation decided for the episodes about to run: per episode id, the parameters its
    env's reset receives (RoboTwin: the validated seed and the expert's episode info), or why it
    cannot run (stored as an error row)."""

    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    problems: Mapping[str, str] = field(default_factory=dict)


def jsonable(value: Any) -> Any:
    """Convert dataclasses, enums, numpy scalars and tuples into JSON-friendly values (a record
    with an `as_json()` method gives its own shape)."""
    if callable(getattr(value, "as_json", None)) and not isinstance(value, type):
        return jsonable(value.as_json())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


class PresetRef(Protocol):
    """What a policy is told of the run's protocol preset: its name and content hash (envs.presets.Preset
    provides them). A policy adapts to the preset through PolicyContext's own fields; these two are
    for recording and logging which protocol it served."""

    @property
    def name(self) -> str: ...

    @property
    def hash(self) -> str: ...
