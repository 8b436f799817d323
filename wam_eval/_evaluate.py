"""`evaluate`: one evaluation (the `wam-eval run` spec) from Python, with a policy name or object."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.api.errors import UsageError
from harness.driver import RunOptions, RunOutcome, run_evaluation
from harness.executors import InProcessExecutor
from harness.spec import EvalSpec
from harness.store import DEFAULT_STORE, ResultStore
from policies.base import Policy

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import Console

    from harness.ray_engine.options import RayEngineOptions


@dataclass
class Evaluation:
    """What `evaluate` returns; unpacks as `episodes, run_id = evaluate(...)`."""

    episodes: pd.DataFrame  # the spec's episodes as stored (one row each; resumed ones included)
    run_id: str
    outcome: RunOutcome  # the driver's account: planned keys, how many ran now, the manifest

    def __iter__(self) -> Iterator[Any]:
        return iter((self.episodes, self.run_id))

    @property
    def success_rate(self) -> float:
        """Successes over stored episodes (error episodes count as failures)."""
        return float(self.episodes["success"].mean()) if len(self.episodes) else 0.0


def evaluate(
    policy: str | Policy,
    *,
    benchmark: str = "libero",
    suites: Sequence[str] = (),
    tasks: str | None = None,
    settings: Sequence[str] = (),
    episodes: int | None = None,
    preset: str | None = None,
    checkpoint: str | None = None,
    options: Mapping[str, str] | None = None,
    seed: int | None = None,
    device: str = "cpu",
    store: str | Path = DEFAULT_STORE,
    workers: int | None = 0,
    engine: RayEngineOptions | None = None,
    rerun_errors: bool = False,
    record: str = "none",
    video_dir: str | Path | None = None,
    verbose: bool = False,
    quiet: bool = True,
    force_unlock: bool = False,
    label: str | None = None,
    console: Console | None = None,
    say: Callable[[str, str], None] | None = None,
    argv: Sequence[str] = (),
) -> Evaluation:
    """Evaluate `policy` (a registry name, `remote://HOST:PORT`, `module:factory`, or a Policy object)
    exactly as `wam-eval run` does with the same settings: the same run identity, so a repeated call
    resumes (only missing episodes run) and the CLI's report/compare see the run.

    `workers=0` (the default) runs in this process; None or N > 0 uses Ray actors (`engine` for the
    rest of the engine's settings). A policy object always runs in this process; one that declares no
    checkpoint digest needs `checkpoint=LABEL` (a training step, say), or every evaluation of it would
    be the same run.

    `console` shows the plan and the progress bar; `say(text, level)` receives the Ray engine's own
    lines (cluster start, worker failures; level "info", "warning" or "error"); when None they go to
    `console`, or plainly to stderr without one."""
    if workers is not None and workers < 0:
        raise UsageError(f"workers must be 0 (in-process) or more, not {workers}")
    if episodes is not None and episodes < 1:
        raise UsageError(f"episodes must be at least 1, not {episodes}")
    if isinstance(policy, str):
        ref, factory = policy, None
    else:
        ref, factory = _object_policy(policy, checkpoint, workers)
    spec = EvalSpec(
        benchmark=benchmark,
        policy=ref,
        preset=preset,
        suites=tuple(suites),
        tasks=tasks,
        settings=tuple(settings),
        episodes=episodes,
        seed=seed,
        checkpoint=checkpoint,
        device=device,
        policy_options=dict(options or {}),
    )
    run_options = RunOptions(
        store=Path(store),
        rerun_errors=rerun_errors,
        verbose=verbose,
        quiet=quiet,
        record=record,
        video_dir=Path(video_dir) if video_dir is not None else None,
        force_unlock=force_unlock,
        label=label,
    )
    if factory is not None:
        run_options.executor_factory = factory
    elif workers != 0:
        from harness.progress import console_say
        from harness.ray_engine import ray_executor_factory
        from harness.ray_engine.options import RayEngineOptions

        if say is None and console is not None:
            say = console_say(console)
        run_options.executor_factory = ray_executor_factory(engine or RayEngineOptions(workers=workers), say=say)
        run_options.policy_on_cluster = bool(engine and engine.address)
    outcome = run_evaluation(spec, run_options, console=console, argv=argv or ("wam_eval.evaluate",))
    return Evaluation(episodes=_episodes(run_options.store, outcome), run_id=outcome.run_id, outcome=outcome)


def _object_policy(policy: Policy, checkpoint: str | None, workers: int | None):
    if not isinstance(policy, Policy):
        raise UsageError(f"policy must be a name or implement info(), reset() and infer(); got {type(policy).__name__}")
    if workers != 0:
        raise UsageError(
            "a policy object runs in this process (workers=0); give its name or module:factory to use Ray workers"
        )
    info = policy.info()
    if info.checkpoint_digest == "none" and not checkpoint:
        raise UsageError(
            f"policy {info.name} declares no checkpoint digest: pass checkpoint=LABEL (e.g. the training step) so "
            "that each evaluation of changed weights is a run of its own"
        )
    ref = f"{type(policy).__module__}:{type(policy).__qualname__}"
    return ref, lambda _ref, _ctx: InProcessExecutor.of(policy)


def _episodes(store: Path, outcome: RunOutcome) -> pd.DataFrame:
    planned = {k.id for k in outcome.planned}
    with ResultStore(store) as db:
        frame = db.episodes_frame(outcome.run_id)
    return frame[frame["episode_id"].isin(planned)].reset_index(drop=True)
