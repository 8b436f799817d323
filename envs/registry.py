"""Benchmark names -> adapters, imported only when asked for (RoboTwin pulls in SAPIEN)."""

from __future__ import annotations

import importlib

from envs.base import Benchmark, SuiteInfo
from harness.api.errors import UsageError
from harness.api.types import TaskInfo

BENCHMARKS: dict[str, str] = {
    "libero": "envs.libero.benchmark:LiberoBenchmark",
    "robotwin": "envs.robotwin.benchmark:RoboTwinBenchmark",
}


def get_benchmark(name: str) -> Benchmark:
    """A registered benchmark by name, or `module:Class` (a benchmark defined outside wam-eval; Ray
    workers import it the same way, so the module must be importable there too)."""
    return benchmark_class(name)()


def benchmark_class(name: str) -> type:
    """The adapter class behind a benchmark name (its module imported, nothing built)."""
    target = BENCHMARKS.get(name)
    if target is None:
        if ":" not in name:
            raise UsageError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)} (or module:Class)")
        target = name
    module_name, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        if target is not name:
            raise  # a registered adapter that does not import is a bug, not a user's typo
        raise UsageError(f"benchmark {name!r} cannot be loaded: {type(exc).__name__}: {exc}") from None


def find_suite(benchmark: Benchmark, suite: str) -> SuiteInfo:
    for info in benchmark.suites():
        if info.name == suite:
            return info
    known = ", ".join(s.name for s in benchmark.suites())
    raise UsageError(f"unknown {benchmark.name} suite {suite!r}; known: {known}")


def select_tasks(suite: SuiteInfo, spec: str | None) -> tuple[TaskInfo, ...]:
    """Tasks by index list ('0,1,5'), range ('0-4'), name, or all when spec is None/'all'."""
    if spec is None or spec.strip() == "all":
        return suite.tasks
    if not spec.replace(",", "").strip():
        # An empty selector (a script's variable that came out empty) must not mean every task.
        raise UsageError(f"--tasks {spec!r} names no task; give indices ('0,1'), a range ('0-4'), names, or 'all'")
    by_name = {t.name: t for t in suite.tasks}
    chosen: list[TaskInfo] = []
    for part in (p.strip() for p in spec.split(",")):
        if part in by_name:
            chosen.append(by_name[part])
            continue
        try:
            if "-" in part:
                lo, hi = (int(x) for x in part.split("-", 1))
                if hi < lo:
                    raise UsageError(f"task range {part!r} is reversed; write {hi}-{lo}")
                indices = range(lo, hi + 1)
            else:
                indices = range(int(part), int(part) + 1)
        except ValueError:
            raise UsageError(f"task {part!r} is neither an index nor a task name of {suite.name}") from None
        for i in indices:
            if not 0 <= i < len(suite.tasks):
                raise UsageError(f"task index {i} is out of range: {suite.name} has tasks 0..{len(suite.tasks) - 1}")
            chosen.append(suite.tasks[i])
    seen: dict[str, TaskInfo] = {}
    for task in chosen:
        seen.setdefault(task.name, task)
    return tuple(seen.values())
