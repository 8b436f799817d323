"""Which preset a run uses, decided before anything is built.

The policy's context (chunk length, seed, action size) follows from the preset, so the preset must be
known before the executor builds the policy. It is the user's --preset, else the protocol the policy
was published under as far as it is known without building the policy (its registry entry's
`preferred_presets`, or a `preferred_presets` mapping its factory declares), else the benchmark's
default.
"""

from __future__ import annotations

from collections.abc import Mapping

from envs.base import Benchmark
from envs.presets import Preset, resolve_preset
from harness.api.errors import UsageError
from harness.spec import EvalSpec
from policies.registry import BUILTIN, policy_entries, resolve_policy_factory


def declared_presets(policy_ref: str) -> Mapping[str, str]:
    """benchmark -> preset the policy declares without being built: its registry entry's, else the
    `preferred_presets` attribute of its factory (a class or function attribute). A remote server or
    a factory that names its protocol only in its PolicyInfo declares nothing here."""
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
