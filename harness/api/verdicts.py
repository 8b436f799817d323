"""Verdicts as a benchmark's preparation reads and returns them (RoboTwin: which simulator seeds its
scripted expert solves). A benchmark never holds the store: it reads a VerdictView and returns
verdicts; the driver, the single writer, stores them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.api.types import Verdict

# A verdict whose payload carries this key says the check raised rather than decided.
VERDICT_ERROR = "error"


@dataclass(frozen=True)
class StoredVerdict:
    candidate: int
    accepted: bool
    payload: dict[str, Any]
    source: str
    imported: bool
    created_at: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> "StoredVerdict":
        return cls(
            row["candidate"],
            bool(row["accepted"]),
            json.loads(row["payload_json"]),
            row["source"],
            bool(row["imported"]),
            row["created_at"],
        )

    @property
    def error(self) -> str:
        """What raised when this verdict is an error verdict, else ""."""
        return str(self.payload.get(VERDICT_ERROR) or "")


class VerdictView(Protocol):
    """What a benchmark may read of the stored verdicts: one (benchmark, task, setting, protocol) at a time."""

    def verdicts(self, benchmark: str, task: str, setting: str, protocol: str) -> Mapping[int, StoredVerdict]: ...


@dataclass(frozen=True)
class VerdictBatch:
    """Verdicts a benchmark hands back for the caller to store (seed files imported by the CLI)."""

    benchmark: str
    task: str
    setting: str
    protocol: str
    verdicts: tuple[Verdict, ...]
    source: str
    imported: bool = False


class VerdictSink(Protocol):
    """Where handed-back verdicts go: the store (ResultStore.put_verdicts)."""

    def put_verdicts(
        self,
        benchmark: str,
        task: str,
        setting: str,
        protocol: str,
        verdicts: Iterable[Verdict],
        *,
        source: str,
        imported: bool = False,
    ) -> int: ...


class VerdictStore(VerdictView, VerdictSink, Protocol):
    """The verdict side of the results store, as the CLI lends it to a plug-in's command (`wam-eval
    seeds`): the plug-in never opens the store itself."""

    path: Path

    def verdict_groups(self, benchmark: str | None = None, task: str | None = None) -> list[dict[str, Any]]: ...

    def runs_with_episodes(self, benchmark: str, task: str, setting: str) -> list[str]: ...

    def forget_error_verdicts(
        self, benchmark: str, *, task: str | None = None, protocol: str | None = None
    ) -> list[tuple[str, str, str, StoredVerdict]]: ...
