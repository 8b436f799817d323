"""The Env and Benchmark protocols every simulator adapter implements.

A Benchmark is the registry side (what suites, tasks and settings exist, which simulator stack is
installed, how to build an env); an Env is one live simulator instance owned by one worker. The
engine never imports a simulator itself: it asks the Benchmark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from harness.api.types import EpisodeKey, EpisodeParams, Observation, PrepItem, TaskInfo, Verdict

if TYPE_CHECKING:
    from envs.presets import Preset
    from harness.api.verdicts import VerdictView


@dataclass
class StepOutcome:
    """One env step. `observation.images` is empty unless the step was asked to render."""

    observation: Observation
    done: bool
    success: bool
    env_ms: float = 0.0
    render_ms: float = 0.0


@dataclass
class ResetOutcome:
    observation: Observation
    seed: int | None = None  # the simulator seed the episode ran on, when the benchmark has one
    extra: dict = field(default_factory=dict)  # facts stored with the episode (chosen instruction...)
    env_ms: float = 0.0
    render_ms: float = 0.0


@dataclass(frozen=True)
class SuiteInfo:
    name: str
    display_name: str  # as the paper's table labels it (Spatial, Object, Goal, Long)
    tasks: tuple[TaskInfo, ...]
    in_paper: bool = True  # libero_90 is listed but not part of Table 2
    # A suite that perturbs another (LIBERO-PRO's libero_goal_lan perturbs libero_goal): which one,
    # and how (a short key such as "lan"). None / "" for an original suite.
    varies: str | None = None
    variation: str = ""
    fixed_episodes: bool = True  # every task ships its fixed initial states
    # Tasks that cannot run on this install, by name, with why (missing files); planning refuses them.
    problems: Mapping[str, str] = field(default_factory=dict)
    unavailable: str = ""  # one line summing up `problems` ("" when every task can run)


@runtime_checkable
class Env(Protocol):
    task: TaskInfo

    def reset(self, key: EpisodeKey, *, render: bool, params: Mapping[str, Any] | None = None) -> ResetOutcome:
        """Start episode `key`. `params` are what the benchmark's preparation decided for it
        (Benchmark.episode_params; RoboTwin: its validated seed); None when it prepares nothing."""
        ...

    def step(self, action: np.ndarray, *, render: bool) -> StepOutcome: ...

    def close(self) -> None: ...

    # Optional: `check_drift() -> DriftCheck`, called once after warm-up, before the first policy
    # call: how far the env's state is from the benchmark's reference state for this episode (LIBERO
    # compares with its golden states). Envs without a reference leave it out.


@runtime_checkable
class Benchmark(Protocol):
    """Optional class attributes, read where present (a benchmark without them still runs):
    `preset_rules: PresetRules` (what its presets may say beyond the generic schema),
    `table_layout: harness.api.report_facts.TableLayout` (its paper's headline table; without it a
    report shows one column per suite), `paper_tables: tuple[harness.api.report_facts.PaperTable, ...]`
    (the tables `wam-eval reproduce` can run in full), `perturbations:
    harness.api.perturbations.Perturbations` (perturbed suites for `reproduce robustness`) and
    `commands: tuple[harness.api.commands.Command, ...]` (its `wam-eval` subcommands)."""

    name: str
    default_preset: str

    def suites(self) -> Sequence[SuiteInfo]: ...

    def settings(self) -> tuple[str, ...]: ...

    def action_dim_for(self, preset: "Preset") -> int:
        """The action size under a preset (RoboTwin's depends on the embodiment the preset names)."""
        ...

    def noop_action_for(self, preset: "Preset") -> np.ndarray:
        """The action that leaves the robot where it is under a preset (warm-up, the noop baseline)."""
        ...

    def check_available(self, preset: "Preset") -> None:
        """Raise MissingDependencyError naming what is missing and how to get it."""
        ...

    def versions(self, preset: "Preset | None" = None) -> dict[str, str]:
        """The exact simulator stack of a run under `preset` (its assets may depend on it); recorded with
        every result since it moves success rates. Keys in harness.spec.HOST_FACTS (the GPU, its driver)
        are recorded but left out of the run identity."""
        ...

    def make_env(self, task: TaskInfo, preset: "Preset", *, cameras: Sequence[str]) -> Env: ...


@runtime_checkable
class PreparingBenchmark(Benchmark, Protocol):
    """A benchmark with work that must happen before its episodes (RoboTwin: expert-validated seeds);
    optional: a benchmark without it (LIBERO) implements none of these.

    The driver asks `preparation` what is missing (reading a view of the stored verdicts), runs each
    item's `prepare` in a worker, stores the verdicts itself (the single writer), asks again until
    nothing is missing, then turns the stored verdicts into per-episode parameters with
    `episode_params`. A benchmark reads verdicts; it never writes them.

    Optional attributes for the preparation summary: `candidate_noun` (what it checks: "seeds") and
    `forget_errors_command` (the command that forgets verdicts of checks that raised)."""

    def preparation(self, keys: Sequence[EpisodeKey], preset: "Preset", verdicts: "VerdictView") -> list[PrepItem]:
        """What must still be checked before `keys` can run, most urgent first; [] when nothing.
        Asked again after every stored result, so it may hand out more work as verdicts arrive."""
        ...

    def prepare(self, item: PrepItem, preset: "Preset") -> list[Verdict]:
        """Do one item, in a worker's process (it may need the simulator). Picklable result."""
        ...

    def episode_params(self, keys: Sequence[EpisodeKey], preset: "Preset", verdicts: "VerdictView") -> EpisodeParams:
        """Per episode, what its env's reset receives, or why it cannot run."""
        ...
