"""The preparation phase: work a benchmark needs done before its episodes can run (RoboTwin: which
simulator seeds its scripted expert solves), done once and kept in the results store.

The driver asks the benchmark what is missing (`Benchmark.preparation`, read from the store), hands
the items to the executor, which runs them on its workers in parallel (they need the simulator),
and stores each item's verdicts as it comes back: the driver is the only writer, one transaction
per item, so a crash loses at most the items in flight and a rerun asks only for what is missing.
The benchmark is asked again whenever a worker is free, so it can hand out more work as verdicts
arrive (RoboTwin: more seed chunks while too few seeds are accepted). Finally the stored verdicts
become per-episode parameters for the env's reset (`Benchmark.episode_params`).

A verdict whose payload carries `error` (harness.store.VERDICT_ERROR) says the check raised rather
than decided: it counts as a rejection for now, the summary counts it apart from the check's own
rejections, and it is replaced by the next check of its candidate once the user forgets it (the
command the benchmark names in `forget_errors_command`; RoboTwin: `wam-eval seeds forget --errors`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from rich.console import Console
from rich.markup import escape

from envs.base import Benchmark, PreparingBenchmark
from envs.presets import Preset
from harness.api.types import EpisodeKey, EpisodeParams, PrepItem, PrepResult
from harness.api.verdicts import VERDICT_ERROR, StoredVerdict
from harness.executors import Executor
from harness.progress import PrepProgress
from harness.store import ResultStore
from harness.worker import WorkerJob


@dataclass
class PrepOutcome:
    params: EpisodeParams
    ran: int = 0  # items whose verdicts this invocation stored
    failed: dict[str, str] = field(default_factory=dict)  # item key -> why it failed
    seconds: float = 0.0
    checked: int = 0  # candidates this invocation checked
    accepted: int = 0
    errors: list[str] = field(default_factory=list)  # "task/setting candidate: what raised", per error verdict
    # Checks that raised on candidates already judged (an imported seed's info check): their verdicts stay.
    raised_on_judged: list[str] = field(default_factory=list)

    def summary(self, store: ResultStore, *, candidates: str = "candidates", forget_command: str = "") -> str:
        """The closing line. `candidates`: what the benchmark checks (RoboTwin: seeds); `forget_command`:
        the command that forgets error verdicts (the benchmark's `forget_errors_command`)."""
        rejected = self.checked - self.accepted - len(self.errors) - len(self.raised_on_judged)
        line = (f"[bold]preparation[/] done in {self.seconds:.1f}s: {self.ran} item(s), {self.checked} candidate(s) "
                f"checked, {self.accepted} accepted, {rejected} rejected by the check, {len(self.errors)} rejected "
                "by errors")
        if self.errors:
            shown = "; ".join(self.errors[:3]) + (f"; {len(self.errors) - 3} more" if len(self.errors) > 3 else "")
            line += (f" ({escape(shown)}). An error is not the check's verdict: those candidates count as rejected "
                     "until checked again; fix the cause, then "
                     + (f"run `{forget_command} --store {escape(str(store.path))}` and this command again"
                        if forget_command else "forget those error verdicts and run this command again"))
        if self.raised_on_judged:
            shown = "; ".join(self.raised_on_judged[:3])
            line += (f"; {len(self.raised_on_judged)} check(s) raised on {candidates} already judged, whose verdicts stay "
                     f"({escape(shown)})")
        if self.failed:
            line += f"; {len(self.failed)} item(s) failed"
        return line


class ReadOnlyVerdicts:
    """The store as a benchmark sees it (harness.api.verdicts.VerdictView): verdicts to read,
    nothing to write; the driver stores what the workers return."""

    def __init__(self, store: ResultStore):
        self._store = store

    def verdicts(self, benchmark: str, task: str, setting: str, protocol: str) -> Mapping[int, StoredVerdict]:
        return self._store.verdicts(benchmark, task, setting, protocol)


def _group(item: PrepItem) -> tuple[str, str, str]:
    return item.task, item.setting, item.protocol


def run_preparation(benchmark: Benchmark, keys: Sequence[EpisodeKey], preset: Preset, store: ResultStore,
                    executor: Executor, job: WorkerJob, *, console: Console, verbose: bool = False,
                    quiet: bool = False) -> PrepOutcome:
    """Prepare what `keys` need, store every verdict, and return the episodes' parameters. Episodes
    that cannot run (their preparation failed or gave up) come back in `params.problems`."""
    t0 = time.perf_counter()
    outcome = PrepOutcome(params=EpisodeParams())
    if not isinstance(benchmark, PreparingBenchmark):
        return outcome  # nothing to prepare (LIBERO: its episodes are fixed initial states)
    view = ReadOnlyVerdicts(store)
    pending = benchmark.preparation(keys, preset, view)
    failed_groups: dict[tuple[str, str, str], str] = {}  # (task, setting, protocol) -> why it stopped
    if pending:
        in_flight: set[str] = set()
        done: set[str] = set()
        groups = {_group(i) for i in pending}
        if not quiet:
            console.print(f"[bold]preparation[/] {len(groups)} task/setting(s) need work the store does not hold: "
                          f"{len(pending)} item(s) to start with, more as their results come in", soft_wrap=True)

        with PrepProgress(console, verbose=verbose, quiet=quiet) as progress:

            def next_item() -> PrepItem | None:
                # An item is done at most once per invocation: one whose check raised can still be
                # pending afterwards (an imported seed still lacks the expert's info) and would loop.
                todo = [i for i in benchmark.preparation(keys, preset, view)
                        if i.key not in in_flight and i.key not in done and i.key not in outcome.failed
                        and _group(i) not in failed_groups]
                progress.planned(in_flight=len(in_flight), waiting=len(todo))
                if not todo:
                    return None
                in_flight.add(todo[0].key)
                return todo[0]

            def on_result(result: PrepResult) -> None:
                item = result.item
                in_flight.discard(item.key)
                done.add(item.key)
                source = f"{result.worker} on {result.node}" if result.node else (result.worker or "worker")
                store.put_verdicts(benchmark.name, item.task, item.setting, item.protocol, result.verdicts, source=source)
                outcome.ran += 1
                outcome.checked += len(result.verdicts)
                # Counted as the store kept them: an error never replaces a verdict a candidate already has.
                kept = store.verdicts(benchmark.name, item.task, item.setting, item.protocol)
                for v in result.verdicts:
                    what = f"{item.task}/{item.setting} {v.candidate}: {v.payload.get(VERDICT_ERROR)}"
                    if not v.payload.get(VERDICT_ERROR):
                        outcome.accepted += bool(v.accepted)
                    elif kept[v.candidate].error:
                        outcome.errors.append(what)
                    else:
                        outcome.raised_on_judged.append(what)
                progress.done(result)

            def on_failure(item: PrepItem, reason: str) -> None:
                # Later items of the group would leave a hole in front of them: none is handed out.
                in_flight.discard(item.key)
                outcome.failed[item.key] = reason
                failed_groups.setdefault(_group(item), f"preparing {item.label or item.key} failed: {reason}")
                progress.failed(item, reason)

            executor.prepare(job, next_item, on_result, on_failure, expected=len(pending))
        outcome.seconds = time.perf_counter() - t0
        if not quiet:
            summary = outcome.summary(store, candidates=getattr(benchmark, "candidate_noun", "candidates"),
                                      forget_command=getattr(benchmark, "forget_errors_command", ""))
            console.print(summary, highlight=False, soft_wrap=True)
    params = benchmark.episode_params(keys, preset, view)
    if failed_groups:
        # Say why in the episodes' own error rows: the failed item, then what the benchmark sees.
        reasons = {(task, setting): why for (task, setting, _), why in failed_groups.items()}
        problems = dict(params.problems)
        for key in keys:
            if key.id in problems and (key.task, key.setting) in reasons:
                problems[key.id] = f"{reasons[(key.task, key.setting)]}; {problems[key.id]}"
        params = EpisodeParams(params=params.params, problems=problems)
    outcome.params = params
    outcome.seconds = time.perf_counter() - t0
    return outcome
