"""What a preset says about the simulator stack its protocol's authors ran, read from a preset's
stored content: whether a run on another stack is still the official protocol. The preset itself
(envs/presets) and the report (from a run's stored preset, without the benchmark's code) share it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# A [simulator] entry the protocol's authors ran without pinning a version (RoboTwin's cuRobo and
# toppra): named as part of their stack, never compared.
UNPINNED = "unpinned"


@dataclass(frozen=True)
class ProtocolStack:
    official: bool  # the preset reproduces a published protocol
    # package -> the version the protocol's authors ran (or UNPINNED), keyed as the benchmark
    # records its versions
    simulator: Mapping[str, str] = field(default_factory=dict)
    # What an official protocol becomes on another stack ("" : still "official protocol").
    other_stack_label: str = ""

    @classmethod
    def from_content(cls, content: Mapping[str, Any]) -> ProtocolStack:
        """From a preset's content as a run stores it; a preset stored before these fields existed
        names no stack, so nothing differs."""
        return cls(
            official=bool(content.get("official", False)),
            simulator={str(k): str(v) for k, v in dict(content.get("simulator") or {}).items()},
            other_stack_label=str(content.get("other_stack_label") or ""),
        )

    def simulator_differences(self, versions: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(package, the protocol's version, this run's version) wherever they differ."""
        return [
            (pkg, want, str(versions.get(pkg, "not installed")))
            for pkg, want in self.simulator.items()
            if want != UNPINNED and str(versions.get(pkg)) != want
        ]

    def protocol_kind(self, versions: Mapping[str, str]) -> str:
        """What a run under this preset on the stack `versions` is, in a few words: 'official protocol',
        'NOT an official protocol', or the other_stack_label when it runs on another stack."""
        if not self.official:
            return "NOT an official protocol"
        if self.other_stack_label and self.simulator_differences(versions):
            return self.other_stack_label
        return "official protocol"
