"""Where episodes run. The in-process executor runs them one after another in the driver's process;
the Ray executor (harness/ray_engine/) spreads them over actors. Both hand each finished episode to
the same callback, so the driver, the store and the progress display do not care which ran them."""

from __future__ import annotations

import socket
from typing import Callable, Protocol, Sequence

from harness.api.types import EpisodeKey, EpisodeResult, PrepItem, PrepResult
from harness.rollout import LocalPolicyClient
from harness.worker import EpisodeRunner, WorkerJob
from policies.base import Policy, PolicyContext, PolicyInfo
from policies.registry import make_policy


class Executor(Protocol):
    def policy_info(self) -> PolicyInfo: ...

    def prepare(self, job: WorkerJob, next_item: Callable[[], PrepItem | None],
                on_result: Callable[[PrepResult], None], on_failure: Callable[[PrepItem, str], None], *,
                expected: int) -> None:
        """Run preparation items on the workers until `next_item` has none left and none is running.
        `next_item` is asked whenever a worker is free and may hand out more as results arrive;
        `expected` is how many it holds now (how many workers are worth starting)."""
        ...

    def run(self, job: WorkerJob, keys: Sequence[EpisodeKey], on_result: Callable[[EpisodeResult], None]) -> None: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """One env and the policy in the driver's own process: the smallest, debuggable setting."""

    def __init__(self, policy_ref: str, ctx: PolicyContext):
        self._policy: Policy = make_policy(policy_ref, ctx)
        self._info = self._policy.info()
        self._owned = True

    @classmethod
    def of(cls, policy: Policy) -> "InProcessExecutor":
        """Around a policy object the caller built (wam_eval.evaluate): used, never closed."""
        executor = cls.__new__(cls)
        executor._policy, executor._info, executor._owned = policy, policy.info(), False
        return executor

    def policy_info(self) -> PolicyInfo:
        return self._info

    def prepare(self, job: WorkerJob, next_item: Callable[[], PrepItem | None],
                on_result: Callable[[PrepResult], None], on_failure: Callable[[PrepItem, str], None], *,
                expected: int) -> None:
        runner = EpisodeRunner(job, LocalPolicyClient(self._policy), self._info)
        host = socket.gethostname()
        try:
            while (item := next_item()) is not None:
                try:
                    result = runner.prepare(item)
                except Exception as exc:  # noqa: BLE001 - the item failed; the driver decides what that means
                    on_failure(item, f"{type(exc).__name__}: {exc}")
                    continue
                result.worker, result.node = "in-process", host
                on_result(result)
        finally:
            runner.close()

    def run(self, job: WorkerJob, keys: Sequence[EpisodeKey], on_result: Callable[[EpisodeResult], None]) -> None:
        runner = EpisodeRunner(job, LocalPolicyClient(self._policy), self._info)
        host = socket.gethostname()
        try:
            for key in keys:
                result = runner.run(key)
                result.worker, result.node = "in-process", host
                on_result(result)
        finally:
            runner.close()

    def close(self) -> None:
        if not self._owned:
            return
        close = getattr(self._policy, "close", None)
        if callable(close):
            close()
