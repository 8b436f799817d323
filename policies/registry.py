"""Policy names -> factories, resolved lazily so that listing policies imports no model code.

A policy reference is one of:
  - a built-in name (`noop`, `random`, `fastwam`, ...);
  - `remote://host:port`, a policy served over websocket (openpi's wire format);
  - `package.module:factory`, any user callable taking a PolicyContext and returning a Policy;
  - a name registered by an installed package under the `wam_eval.policies` entry-point group.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from typing import Callable, Mapping, cast

from harness.api.errors import UsageError
from policies.base import Policy, PolicyContext

ENTRY_POINT_GROUP = "wam_eval.policies"


@dataclass(frozen=True)
class PolicyEntry:
    name: str
    target: str  # "module:callable"
    summary: str
    # benchmark -> preset used when the user names none (the protocol the policy was published under)
    preferred_presets: Mapping[str, str] = field(default_factory=dict)
    # "module:callable(name, ctx)" raising UsageError for a request that cannot run; called by the
    # driver before anything slow starts (Ray, model code). Must import nothing heavy.
    precheck: str | None = None
    # "module:attribute" of each harness.api.commands.Command the policy brings to `wam-eval`
    # (Fast-WAM: latency); the module must import nothing heavy, since --help builds every parser.
    commands: tuple[str, ...] = ()
    # "module:callable(name, checkpoint, options) -> str | None": the published row (a baseline
    # method) a run of this policy reproduces, which `wam-eval reproduce` judges it against; None:
    # the policy has no row. Must import nothing heavy.
    paper_row: str | None = None


# The protocol each Fast-WAM variant was published under (the authors' own evaluation scripts).
_FASTWAM_PRESETS = {"libero": "fastwam-libero", "robotwin": "fastwam-robotwin"}
_FASTWAM_PRECHECK = "policies.fastwam.request:precheck"
_FASTWAM_PAPER_ROW = "policies.fastwam.paper_rows:paper_row"

BUILTIN: tuple[PolicyEntry, ...] = (
    PolicyEntry(
        "noop",
        "policies.baselines:NoopPolicy",
        "the benchmark's no-op action, every step",
        precheck="policies.baselines:precheck",
    ),
    PolicyEntry(
        "random",
        "policies.baselines:RandomPolicy",
        "uniform random actions, seeded per episode",
        precheck="policies.baselines:precheck",
    ),
    PolicyEntry(
        "libero-oracle",
        "policies.libero_oracle:make_libero_oracle",
        "ORACLE: scripted pick-and-place from privileged simulator state (libero_object)",
    ),
    PolicyEntry(
        "fastwam",
        "policies.fastwam.policy:make_fastwam",
        "Fast-WAM: current frame encoded once, 10 action-only denoising steps",
        _FASTWAM_PRESETS,
        _FASTWAM_PRECHECK,
        commands=("policies.fastwam.commands:LATENCY",),
        paper_row=_FASTWAM_PAPER_ROW,
    ),
    PolicyEntry(
        "fastwam-novideo",
        "policies.fastwam.policy:make_fastwam_novideo",
        "Fast-WAM trained without video co-training (same inference path)",
        _FASTWAM_PRESETS,
        _FASTWAM_PRECHECK,
        paper_row=_FASTWAM_PAPER_ROW,
    ),
    PolicyEntry(
        "fastwam-joint",
        "policies.fastwam.policy:make_fastwam_joint",
        "Fast-WAM-Joint: future video and actions denoised together",
        _FASTWAM_PRESETS,
        _FASTWAM_PRECHECK,
        paper_row=_FASTWAM_PAPER_ROW,
    ),
    PolicyEntry(
        "fastwam-idm",
        "policies.fastwam.policy:make_fastwam_idm",
        "Fast-WAM-IDM: future video first, then actions conditioned on it",
        _FASTWAM_PRESETS,
        _FASTWAM_PRECHECK,
        paper_row=_FASTWAM_PAPER_ROW,
    ),
    PolicyEntry(
        "robotwin-expert",
        "policies.robotwin_expert:make_robotwin_expert",
        "ORACLE (RoboTwin): replays the scripted expert's plan for each episode's seed",
    ),
)


def policy_entries() -> dict[str, PolicyEntry]:
    entries = {e.name: e for e in BUILTIN}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        entries.setdefault(ep.name, PolicyEntry(ep.name, ep.value, f"from package {ep.dist.name if ep.dist else '?'}"))
    return entries


def _load_target(target: str) -> Callable[[PolicyContext], Policy]:
    module_name, _, attr = target.partition(":")
    if not attr:
        raise UsageError(f"policy {target!r} is not module:callable")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"cannot import policy module {module_name!r}: {exc}") from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UsageError(f"module {module_name!r} has no {attr!r}") from None


def resolve_policy_factory(ref: str) -> Callable[[PolicyContext], Policy]:
    if ref.startswith("remote://"):
        # The address is part of the reference, so the factory gets it along with the context.
        return functools.partial(_load_target("policies.remote:make_remote_policy"), ref)
    entries = policy_entries()
    if ref in entries:
        return _load_target(entries[ref].target)
    if ":" in ref:
        return _load_target(ref)
    raise UsageError(
        f"unknown policy {ref!r}; known: {', '.join(sorted(entries))}, remote://HOST:PORT or module:factory"
    )


def precheck_policy(ref: str, ctx: PolicyContext) -> None:
    """Refuse a request the policy's entry can judge without building it (see PolicyEntry.precheck)."""
    entry = policy_entries().get(ref)
    if entry is not None and entry.precheck:
        _load_target(entry.precheck)(ref, ctx)


def published_row(ref: str, checkpoint: str | None, options: Mapping[str, str]) -> str | None:
    """The published row a run of this policy reproduces (see PolicyEntry.paper_row); None: it has none."""
    entry = policy_entries().get(ref)
    if entry is None or entry.paper_row is None:
        return None
    row = cast(Callable[[str, "str | None", Mapping[str, str]], "str | None"], _load_target(entry.paper_row))
    return row(ref, checkpoint, options)


def make_policy(ref: str, ctx: PolicyContext) -> Policy:
    policy = resolve_policy_factory(ref)(ctx)
    if not isinstance(policy, Policy):
        raise UsageError(f"policy {ref!r} does not implement info(), reset() and infer()")
    return policy
