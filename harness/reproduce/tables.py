"""What reproducing each of the paper's tables runs: its benchmark, suites and columns.

Every task, setting and episode of the table: the episodes and settings are the protocol preset's,
and the preset is the one `run` would choose (the policy's published protocol, fastwam-libero or
fastwam-robotwin for Fast-WAM policies, else the benchmark's official preset).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from envs.libero.catalog import SUITES as LIBERO_SUITES
from envs.registry import benchmark_class
from harness.api.errors import UsageError
from harness.api.report_facts import TableLayout
from harness.spec import EvalSpec
from policies.fastwam.request import is_optional_idm


@dataclass(frozen=True)
class PaperTable:
    name: str  # as the command takes it: table2
    title: str  # as baseline files name it: "Table 2"
    benchmark: str
    suites: tuple[str, ...]

    @property
    def layout(self) -> TableLayout:
        layout: TableLayout = benchmark_class(self.benchmark).table_layout  # the paper's table, declared by its benchmark
        return layout


TABLES: dict[str, PaperTable] = {
    "table2": PaperTable("table2", "Table 2", "libero", tuple(s.name for s in LIBERO_SUITES if s.in_paper)),
    "table1": PaperTable("table1", "Table 1", "robotwin", ("robotwin2",)),
}

# The paper's row each built-in policy is judged against (`--against` names another).
PAPER_METHODS: Mapping[str, str] = {
    "fastwam": "Fast-WAM",
    "fastwam-joint": "Fast-WAM-Joint",
    "fastwam-idm": "Fast-WAM-IDM",
    "fastwam-novideo": "Fast-WAM w.o. video co-train",
}
# The Optional IDM release is not in the paper: its figures are the official README's, per mode.
OPTIONAL_IDM_METHODS: Mapping[str, str] = {
    "idm": "Fast-WAM Optional IDM, idm mode (README)",
    "first_frame": "Fast-WAM Optional IDM, first_frame mode (README)",
}


def paper_method(spec: EvalSpec) -> str | None:
    """The published row of the policy a run of this spec evaluates; None for a policy the paper has
    no row for (a baseline, a user's model): it must be told which row to be judged against."""
    mode = spec.policy_options.get("action_infer_mode")
    optional = spec.checkpoint is not None and is_optional_idm(spec.checkpoint)
    if spec.policy == "fastwam-idm" and (optional or mode):
        return OPTIONAL_IDM_METHODS.get(mode or "idm")
    return PAPER_METHODS.get(spec.policy)


def get_table(name: str) -> PaperTable:
    try:
        return TABLES[name]
    except KeyError:
        raise UsageError(f"unknown table {name!r}; known: {', '.join(sorted(TABLES))}") from None


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
