"""Which preset a run uses, decided before anything is built.

The policy's context (chunk length, seed, action size) follows from the preset, so the preset must be
known before the executor builds the policy. It is the user's --preset, else the protocol the policy
was published under as far as it is known without building the policy (its registry entry's
`preferred_presets`, or a `preferred_presets` mapping its factory declares), else the benchmark's
default.

A remote server names its protocol, and its PolicyInfo, in the handshake it sends on connect:
`policy_outlook` reads that handshake (connect, read, close) so that both are known before the
executor exists. A factory that names them only in the PolicyInfo of the policy it builds is the one
case the driver must build to learn (and rebuild when the protocol it names is another).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from envs.base import Benchmark
from envs.presets import Preset, resolve_preset
from harness.api.errors import UsageError
from harness.spec import EvalSpec
from policies.base import PolicyContext, PolicyInfo
from policies.registry import BUILTIN, policy_entries, resolve_policy_factory


@dataclass(frozen=True)
class PolicyOutlook:
    """What is known of a policy before anything builds it."""

    preferred_presets: Mapping[str, str] = field(default_factory=dict)  # benchmark -> preset it names
    # Its PolicyInfo under a context, where that is known without building it (a remote server's
    # handshake); None: only the built policy can tell.
    info_for: Callable[[PolicyContext], PolicyInfo] | None = None


def policy_outlook(policy_ref: str, options: Mapping[str, str]) -> PolicyOutlook:
    """What the policy declares without being built; for `remote://`, what its server's handshake
    says (read once, the connection closed: the executor's policy opens its own)."""
    if policy_ref.startswith("remote://"):
        from policies.remote.handshake import read_handshake  # websockets only for remote policies

        handshake = read_handshake(policy_ref, options)
        return PolicyOutlook(handshake.preferred_presets, handshake.policy_info)
    return PolicyOutlook(declared_presets(policy_ref))


def declared_presets(policy_ref: str) -> Mapping[str, str]:
    """benchmark -> preset the policy declares without being built: its registry entry's, else the
    `preferred_presets` attribute of its factory (a class or function attribute). A remote server (its
    handshake: `policy_outlook`) or a factory that names its protocol only in its PolicyInfo declares
    nothing here."""
    if policy_ref.startswith("remote://"):
        return {}
    entry = policy_entries().get(policy_ref)
    if entry is not None and (entry.preferred_presets or entry in BUILTIN):
        return entry.preferred_presets  # a built-in's entry says all there is: its module stays unimported
    if entry is None and ":" not in policy_ref:
        return {}  # an unknown name: building it says so, in the order the driver checks things
    try:
        factory = resolve_policy_factory(policy_ref)
    except UsageError:
        return {}  # not importable here (its code may live on the cluster's nodes only): the executor says
    declared = getattr(factory, "preferred_presets", None)
    return {str(k): str(v) for k, v in declared.items()} if isinstance(declared, Mapping) else {}


def choose_preset(spec: EvalSpec, benchmark: Benchmark, policy_preferred: str | None = None) -> Preset:
    """The user's preset, else `policy_preferred`, else the policy's declared protocol, else the
    benchmark's default."""
    if spec.preset:
        preset = resolve_preset(spec.preset)
    else:
        preferred = policy_preferred or declared_presets(spec.policy).get(benchmark.name)
        preset = resolve_preset(preferred or benchmark.default_preset)
    if preset.benchmark != benchmark.name:
        raise UsageError(f"preset {preset.name} is for {preset.benchmark}, not {benchmark.name}")
    return preset
