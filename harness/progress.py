"""What the user watches during a run: a live bar (done/total, success so far, episodes per hour,
ETA) and one line per finished episode; before the episodes, the same for preparation items."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.text import Text

from harness.api.types import DriftVerdict, EndReason, EpisodeResult, PrepItem, PrepResult


def episode_line(result: EpisodeResult, *, index: int, total: int, verbose: bool) -> str:
    t = result.timings
    outcome = {EndReason.SUCCESS: "[green]success[/]", EndReason.HORIZON: "[yellow]fail[/]", EndReason.ERROR: "[red]error[/]"}[
        EndReason(result.end_reason)
    ]
    width = len(str(total))
    line = f"\\[{index:>{width}}/{total}] {escape(result.key.id)}  {outcome}  {result.steps} steps  {t.total_ms / 1000:.1f}s"
    if verbose:
        line += (
            f"  (env {t.env_ms / 1000:.1f}s, render {t.render_ms / 1000:.1f}s, policy {t.policy_ms / 1000:.1f}s,"
            f" queue {t.queue_ms / 1000:.1f}s, {result.policy_calls} calls, {result.worker or '-'} on {result.node or '-'}"
            + (f", attempt {result.attempts}" if result.attempts > 1 else "")
            + ")"
        )
    if result.drift_verdict == DriftVerdict.DRIFT.value:
        # The episode started from another scene than the reference stack's: its outcome is suspect.
        line += f"  [bold red]drift {result.drift:.3g}[/]"
    if result.error:
        line += f"  [red]{escape(error_headline(result.error))}[/]"
    if result.extra.get("video_error"):
        line += f"  [yellow]video not written: {escape(error_headline(str(result.extra['video_error'])))}[/]"
    return line


def error_headline(error: str) -> str:
    """One line of an error for the episode line (the store keeps it whole): a traceback's last
    line names the exception; other text keeps its first line."""
    lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
    if not lines:
        return error
    if len(lines) == 1:
        return lines[0]
    traceback_at = next((i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")), None)
    if traceback_at is not None:
        head = " ".join(lines[:traceback_at]).rstrip(":")
        return f"{head}: {lines[-1]}" if head else lines[-1]
    return lines[0] + " (...)"


@dataclass
class RunProgress:
    """Live progress of one invocation; counts only the episodes this invocation runs."""

    console: Console
    total: int
    verbose: bool = False
    quiet: bool = False
    done: int = 0
    successes: int = 0
    errors: int = 0
    started: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]episodes"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("success {task.fields[rate]}"),
            TextColumn("{task.fields[per_hour]} ep/h"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            disable=self.quiet,
        )
        self._task = self._progress.add_task("run", total=self.total, rate="-", per_hour="-")

    def __enter__(self) -> "RunProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    @property
    def per_hour(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed * 3600.0 if elapsed > 0 else 0.0

    def update(self, result: EpisodeResult) -> None:
        self.done += 1
        self.successes += int(result.success)
        self.errors += int(result.end_reason == EndReason.ERROR)
        if not self.quiet:
            self._progress.console.print(episode_line(result, index=self.done, total=self.total, verbose=self.verbose), highlight=False,
                                        soft_wrap=True)
        self._progress.update(
            self._task,
            advance=1,
            rate=f"{100.0 * self.successes / self.done:.1f}%",
            per_hour=f"{self.per_hour:.0f}",
        )


def prep_line(result: PrepResult, *, index: int, verbose: bool) -> str:
    accepted = sum(1 for v in result.verdicts if v.accepted)
    line = (f"\\[prep {index}] {escape(result.item.label or result.item.key)}: [green]{accepted} accepted[/], "
            f"{len(result.verdicts) - accepted} rejected  {result.seconds:.1f}s")
    if verbose:
        line += f"  ({result.worker or '-'} on {result.node or '-'})"
    return line


@dataclass
class PrepProgress:
    """Live progress of the preparation phase. The total grows when the benchmark hands out more
    work (RoboTwin: another seed chunk while too few seeds are accepted)."""

    console: Console
    verbose: bool = False
    quiet: bool = False
    finished: int = 0
    checked: int = 0
    accepted: int = 0

    def __post_init__(self) -> None:
        self._progress = Progress(
            TextColumn("[bold]preparing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[verdicts]}"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
            disable=self.quiet,
        )
        self._task = self._progress.add_task("prepare", total=None, verdicts="")

    def __enter__(self) -> "PrepProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def planned(self, *, in_flight: int, waiting: int) -> None:
        self._progress.update(self._task, total=self.finished + in_flight + waiting)

    def done(self, result: PrepResult) -> None:
        self.finished += 1
        self.checked += len(result.verdicts)
        self.accepted += sum(1 for v in result.verdicts if v.accepted)
        if not self.quiet:
            self._progress.console.print(prep_line(result, index=self.finished, verbose=self.verbose), highlight=False,
                                        soft_wrap=True)
        self._progress.update(self._task, advance=1, verdicts=f"{self.accepted} of {self.checked} accepted")

    def failed(self, item: PrepItem, reason: str) -> None:
        self.finished += 1
        self.console.print(f"[red]preparing {escape(item.label or item.key)} failed: {escape(reason)}[/]", highlight=False,
                           soft_wrap=True)
        self._progress.update(self._task, advance=1)


_LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "red"}


def console_say(console: Console) -> Callable[[str, str], None]:
    """The Ray executor's `say` callback on a console: its lines are plain text (they quote worker
    and policy errors, whose brackets must not be read as markup), coloured by level, never wrapped."""

    def say(text: str, level: str) -> None:
        console.print(Text(text, style=_LEVEL_STYLES.get(level, "")), soft_wrap=True)

    return say
