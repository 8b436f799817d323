"""The simulator worker: a Ray actor owning one env (through the shared EpisodeRunner) and, when
the policy runs inside workers, its own copy of the policy. The env is built lazily for the task of
the first episode it is given, kept while episodes of that task keep coming, rebuilt on a task
change or after an env fault (EpisodeRunner's rules, the same as in-process)."""

from __future__ import annotations

import os
import socket
from typing import Any

from harness.api.types import EndReason, EpisodeKey, EpisodeResult, ErrorSource, PrepItem, PrepResult
from harness.rollout import LocalPolicyClient, PolicyClient
from harness.worker import EpisodeRunner, WorkerJob
from policies.base import Policy, PolicyContext, PolicyInfo
from policies.registry import make_policy


def node_name() -> str:
    """Host name plus the start of Ray's node id: two nodes on one host (ray.cluster_utils, or
    containers sharing a name) stay apart in the results."""
    import ray

    return f"{socket.gethostname()}:{ray.get_runtime_context().get_node_id()[:8]}"


class SimWorker:
    def __init__(self, name: str, policy_ref: str, ctx: PolicyContext, policy_server: Any = None):
        self._name = name
        self._node = node_name()
        self._policy: Policy | None = None
        self._client: PolicyClient | None = None
        self._runner: EpisodeRunner | None = None
        self._configure_error: BaseException | None = None
        # A constructor that raises leaves Ray with a dead actor and a message buried in a log;
        # keeping the error lets `ready` raise it as itself, so the driver can show one line.
        self._init_error: BaseException | None = None
        try:
            if policy_server is None:
                self._policy = make_policy(policy_ref, ctx)
                self._client = LocalPolicyClient(self._policy)
            else:
                from harness.ray_engine.batching import SharedPolicyClient

                self._client = SharedPolicyClient(policy_server)
        except Exception as exc:  # noqa: BLE001 - reported by ready()
            self._init_error = exc

    def ready(self) -> tuple[str, str, int]:
        if self._init_error is not None:
            raise self._init_error
        return self._name, self._node, os.getpid()

    def policy_info(self) -> PolicyInfo:
        self.ready()
        assert self._policy is not None, "policy_info is asked of workers that hold the policy"
        return self._policy.info()

    def configure(self, job: WorkerJob, info: PolicyInfo) -> None:
        self.ready()
        if self._runner is not None:
            self._runner.close()
        self._runner, self._configure_error = None, None
        assert self._client is not None  # ready() raised otherwise
        try:
            self._runner = EpisodeRunner(job, self._client, info)
        except Exception as exc:  # noqa: BLE001 - raised again by run(), so each episode says why
            self._configure_error = exc
            raise

    def run(self, key: EpisodeKey, attempt: int) -> EpisodeResult:
        if self._runner is None:
            raise self._configure_error or RuntimeError("the worker was not configured before run()")
        result = self._runner.run(key)
        result.worker, result.node, result.attempts = self._name, self._node, attempt
        lost = getattr(self._client, "lost", None)
        if lost and result.end_reason == EndReason.ERROR:
            # Not the policy's answer: the shared policy actor died under it. The driver retries.
            result.blame(ErrorSource.POLICY_SERVER)
            setattr(self._client, "lost", None)  # noqa: B010 - only the shared actor's client has it
        return result

    def prepare(self, item: PrepItem) -> PrepResult:
        if self._runner is None:
            raise self._configure_error or RuntimeError("the worker was not configured before prepare()")
        result = self._runner.prepare(item)
        result.worker, result.node = self._name, self._node
        return result

    def close(self) -> None:
        if self._runner is not None:
            self._runner.close()
        close = getattr(self._policy, "close", None)
        if callable(close):
            close()
