"""What reproducing each of the paper's tables runs: its benchmark, suites and columns, as each
benchmark declares them (`Benchmark.paper_tables`, harness.api.report_facts.PaperTable), and the
published row a policy's run is judged against, as its registry entry says (`PolicyEntry.paper_row`).

Every task, setting and episode of the table: the episodes and settings are the protocol preset's,
and the preset is the one `run` would choose (the policy's published protocol, fastwam-libero or
fastwam-robotwin for Fast-WAM policies, else the benchmark's official preset).
"""

from __future__ import annotations

from collections.abc import Mapping

from envs.registry import BENCHMARKS, benchmark_class
from harness.api.errors import UsageError
from harness.api.report_facts import PaperTable
from harness.spec import EvalSpec
from policies.registry import published_row


def paper_tables() -> dict[str, PaperTable]:
    """Every table the registered benchmarks can reproduce, by the name the command takes."""
    found: dict[str, PaperTable] = {}
    for name in BENCHMARKS:
        for table in getattr(benchmark_class(name), "paper_tables", ()):
            found.setdefault(table.name, table)
    return found


def paper_method(spec: EvalSpec) -> str | None:
    """The published row of the policy a run of this spec evaluates; None for a policy with no row (a
    baseline, a user's model): it must be told which row to be judged against."""
    return published_row(spec.policy, spec.checkpoint, spec.policy_options)


def get_table(name: str) -> PaperTable:
    tables = paper_tables()
    try:
        return tables[name]
    except KeyError:
        raise UsageError(f"unknown table {name!r}; known: {', '.join(sorted(tables))}") from None


def table_spec(
    table: PaperTable,
    *,
    policy: str,
    checkpoint: str | None = None,
    device: str = "cpu",
    policy_options: Mapping[str, str] | None = None,
    seed: int | None = None,
    suites: tuple[str, ...] = (),
    tasks: str | None = None,
    episodes: int | None = None,
) -> EvalSpec:
    """The table's full protocol as a run spec, narrowed by `suites`, `tasks` and `episodes`."""
    unknown = [s for s in suites if s not in table.suites]
    if unknown:
        raise UsageError(f"{table.title} has no suite {', '.join(unknown)}; its suites: {', '.join(table.suites)}")
    if episodes is not None and episodes < 1:
        raise UsageError(f"--episodes must be at least 1, not {episodes}")
    return EvalSpec(
        benchmark=table.benchmark,
        policy=policy,
        preset=None,
        suites=tuple(suites) or table.suites,
        tasks=tasks,
        episodes=episodes,
        seed=seed,
        checkpoint=checkpoint,
        device=device,
        policy_options=dict(policy_options or {}),
    )
