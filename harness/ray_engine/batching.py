"""One policy for all workers: an async Ray actor that gathers the workers' requests into batches.

A batch closes when it holds `batch_max` requests, when every worker has a request waiting (no
more can come: each worker waits for its answer), or `batch_wait_ms` after its first request
arrived. Then Policy.infer runs once on the whole batch, on one thread (one model, one inference
at a time; the event loop keeps taking requests meanwhile). Each reply says how long inference took
and how long the request waited for its batch, so episode timings keep policy and queue time apart.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from harness.api.errors import PolicyOutputError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from harness.rollout import PolicyReply
from policies.base import PolicyContext, PolicyInfo
from policies.registry import make_policy


@dataclass
class BatchedReply:
    chunk: ActionChunk
    policy_ms: float  # inference on the whole batch
    wait_ms: float  # from arrival at the actor to the start of its batch's inference
    batch_size: int


@dataclass
class _Request:
    observation: Observation
    future: asyncio.Future
    arrived: float


class BatchingPolicyServer:
    def __init__(self, policy_ref: str, ctx: PolicyContext, *, batch_max: int, batch_wait_ms: float,
                 clients: int | None = None):
        self._batch_max = batch_max
        self._wait_s = batch_wait_ms / 1000.0
        self.set_clients(clients or batch_max)
        self._pending: list[_Request] = []
        self._arrived: asyncio.Event | None = None
        self._serving: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy")
        self._batches: dict[int, int] = {}  # batch size -> how many batches had it
        self._waiting: dict[str, float] = {}  # episode id -> when its request arrived, until answered
        self._init_error: BaseException | None = None
        try:
            self._policy = make_policy(policy_ref, ctx)
            self._info = self._policy.info()
        except Exception as exc:  # noqa: BLE001 - raised by info(), so the driver shows it in one line
            self._init_error = exc

    def set_clients(self, clients: int) -> None:
        # A batch cannot grow past the number of workers: each has at most one request out.
        self._full_at = max(1, min(self._batch_max, clients))

    def info(self) -> PolicyInfo:
        if self._init_error is not None:
            raise self._init_error
        return self._info

    def batch_sizes(self) -> dict[int, int]:
        return dict(self._batches)

    def waiting_s(self) -> dict[str, float]:
        """Seconds each unanswered request has waited, by episode id. The event loop answers this
        while the inference thread is busy, so the driver can tell an episode late because of the
        policy from one whose worker is stuck."""
        now = time.perf_counter()
        return {episode: now - arrived for episode, arrived in self._waiting.items()}

    async def reset(self, key: EpisodeKey) -> None:
        # On the inference thread: a stateful policy never sees reset and infer at once. So a reset
        # waits behind a stuck inference too, and counts as a held request.
        self._waiting[key.id] = time.perf_counter()
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._policy.reset, key)
        finally:
            self._waiting.pop(key.id, None)

    async def infer(self, observation: Observation) -> BatchedReply:
        loop = asyncio.get_running_loop()
        if self._serving is None:
            self._arrived = asyncio.Event()
            self._serving = loop.create_task(self._serve())
        request = _Request(observation, loop.create_future(), time.perf_counter())
        self._pending.append(request)
        self._waiting[observation.episode_id] = request.arrived
        assert self._arrived is not None  # made with the serving task above
        self._arrived.set()
        try:
            return await request.future
        finally:
            self._waiting.pop(observation.episode_id, None)

    async def _serve(self) -> None:
        assert self._arrived is not None
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            if not self._pending:
                continue
            deadline = self._pending[0].arrived + self._wait_s
            while len(self._pending) < self._full_at:
                left = deadline - time.perf_counter()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(self._arrived.wait(), left)
                except TimeoutError:
                    break
                self._arrived.clear()
            batch, self._pending = self._pending[: self._batch_max], self._pending[self._batch_max:]
            if self._pending:
                self._arrived.set()
            await self._answer(batch)

    async def _answer(self, batch: list[_Request]) -> None:
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        try:
            chunks = await loop.run_in_executor(self._thread, self._policy.infer, [r.observation for r in batch])
            if len(chunks) != len(batch):
                raise PolicyOutputError(f"policy returned {len(chunks)} action chunks for {len(batch)} observations")
        except Exception as exc:  # noqa: BLE001 - goes back to the episode(s) that asked
            if len(batch) > 1:
                # One bad observation must not fail the episodes batched with it: ask again one
                # by one, so only the episode whose observation fails gets the error.
                for request in batch:
                    await self._answer([request])
                return
            if not batch[0].future.done():
                batch[0].future.set_exception(exc)
            return
        policy_ms = (time.perf_counter() - start) * 1000.0
        self._batches[len(batch)] = self._batches.get(len(batch), 0) + 1
        for request, chunk in zip(batch, chunks):
            if request.future.done():  # the caller went away
                continue
            info = dict(getattr(chunk, "info", {}) or {})
            info["batch_size"] = len(batch)
            chunk = dataclasses.replace(chunk, info=info) if isinstance(chunk, ActionChunk) else chunk
            request.future.set_result(
                BatchedReply(chunk, policy_ms=policy_ms, wait_ms=(start - request.arrived) * 1000.0, batch_size=len(batch))
            )

    def close(self) -> None:
        close = getattr(getattr(self, "_policy", None), "close", None)
        if callable(close):
            close()
        self._thread.shutdown(wait=False)


_RESTART_WAIT_S = 300.0  # how long an episode's start waits for the shared actor to come back


class PolicyServerLost(RuntimeError):
    """The shared policy actor died while an episode waited for it; the episode is retried."""


class SharedPolicyClient:
    """The worker's side: a PolicyClient whose policy is the shared actor."""

    def __init__(self, server: Any):
        self._server = server
        self.lost: str | None = None  # set when the server died under the current episode
        self._restarting = False  # the last loss was an actor being restarted (it comes back)

    def reset(self, key: EpisodeKey) -> None:
        self.lost = None
        # An episode starts here, so nothing is lost by waiting for an actor that is restarting
        # (after it died or was found stuck): the episode begins on the fresh one.
        deadline = time.monotonic() + _RESTART_WAIT_S
        while True:
            try:
                self._call(self._server.reset.remote(key))
                return
            except PolicyServerLost:
                if not self._restarting or time.monotonic() > deadline:
                    raise
                self.lost = None
                time.sleep(1.0)

    def infer(self, observation: Observation) -> PolicyReply:
        t0 = time.perf_counter()
        reply: BatchedReply = self._call(self._server.infer.remote(observation))
        roundtrip_ms = (time.perf_counter() - t0) * 1000.0
        chunk, policy_ms = reply.chunk, reply.policy_ms
        if isinstance(chunk, ActionChunk):
            # A policy that itself waits on something (a remote server) says how long; that is queue time too.
            policy_ms -= min(max(float(chunk.queue_ms or 0.0), 0.0), policy_ms)
            chunk = dataclasses.replace(chunk, info={**chunk.info, "batch_wait_ms": reply.wait_ms})
        # Queue time is everything that is not inference: waiting for the batch, for the batch
        # before it, and the hops to the actor and back.
        return PolicyReply(chunk, policy_ms=policy_ms, queue_ms=max(0.0, roundtrip_ms - policy_ms))

    def _call(self, ref: Any) -> Any:
        import ray
        from ray.exceptions import ActorUnavailableError, RayActorError, RayTaskError

        try:
            return ray.get(ref)
        except RayTaskError as exc:
            # The policy's own exception, not Ray's wrapper with a remote traceback.
            cause = exc.cause if isinstance(exc.cause, BaseException) else None
            if cause is not None:
                raise cause from None
            raise
        except RayActorError as exc:
            self._restarting = isinstance(exc, ActorUnavailableError)
            self.lost = str(exc).splitlines()[0]
            raise PolicyServerLost(f"the shared policy actor died: {self.lost}") from None
