"""RayExecutor: the Executor protocol over Ray actors.

The driver keeps the queue and hands one episode to each free worker, so a fast worker takes more
and every result comes back to the driver, the single writer of the store. A worker that dies
(segfault, out of memory, killed) is replaced by a fresh actor, which retries the episode; after
`max_retries` retries the episode is stored as an error row naming the cause, and the run goes on.
Preparation items (work a benchmark needs before its episodes) are dispatched the same way, before
the episodes: one per free worker, results back to the driver, a dead worker's item retried.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Literal, Sequence

from harness.api.errors import UsageError, WamEvalError
from harness.api.types import EpisodeKey, EpisodeResult, PrepItem, PrepResult
from harness.ray_engine.actors import SimWorker
from harness.ray_engine.batching import BatchingPolicyServer
from harness.ray_engine.cluster import RayConnection, actor_runtime_env, connect, disconnect
from harness.ray_engine.options import PolicyPlacement, RayEngineOptions
from harness.ray_engine.scheduler import TaskQueue
from harness.ray_engine.work import Attempt, EpisodeWork, PrepWork, Work
from harness.worker import WorkerJob
from policies.base import PolicyContext, PolicyInfo
from policies.registry import resolve_policy_factory

_CLOSE_TIMEOUT_S = 10.0

Level = Literal["info", "warning", "error"]
# How the executor tells the user something (the engine it started, a retry, a worker it lost):
# plain text and a level; the caller decides where and how it is shown.
Say = Callable[[str, Level], None]


def say_on_stderr(text: str, level: Level) -> None:
    print(text if level == "info" else f"{level}: {text}", file=sys.stderr, flush=True)


@dataclass
class _Slot:
    """One worker position; its actor is replaced when it dies (generation counts the actors)."""

    index: int
    generation: int
    actor: Any
    name: str
    node: str = ""
    last_key: EpisodeKey | None = None  # the task the actor's env holds
    running: Attempt | None = None


@dataclass
class _Dispatch:
    """What one dispatch (a run's episodes, or preparation) keeps between results."""

    work: Work
    job_ref: Any  # the job in Ray's object store, sent to every (fresh) worker
    failures: dict[Hashable, list[str]] = field(default_factory=dict)  # why each attempt of an item failed


def describe_failure(exc: BaseException) -> str:
    """One line for an actor's death or a remote exception, from Ray's many-line messages."""
    from ray.exceptions import OutOfMemoryError, RayTaskError

    if isinstance(exc, RayTaskError) and isinstance(exc.cause, BaseException):
        lines = str(exc.cause).strip().splitlines()
        return f"{type(exc.cause).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    text = str(exc)
    oom = isinstance(exc, OutOfMemoryError) or "low on memory" in text or "memory monitor" in text.lower()
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    line = f"{type(exc).__name__}: {first}".rstrip(": ")
    if oom:
        line += " (killed by Ray's memory monitor: the node ran low on memory)"
    else:
        detail = re.search(r"Worker exit detail: (.*?)\.(?:\s|$)", text)
        if detail:
            line += f" ({detail.group(1)})"
    return line[:500]


def _unwrap_start_error(exc: BaseException, what: str) -> WamEvalError:
    """An error raised while a worker or the policy actor started, as the driver's one line:
    the harness's own error as it was raised, anything else prefixed with `what` happened."""
    from ray.exceptions import RayTaskError

    cause = exc.cause if isinstance(exc, RayTaskError) else None
    if isinstance(cause, WamEvalError):
        return cause
    return WamEvalError(f"{what}: {describe_failure(exc)}")


class RayExecutor:
    def __init__(self, policy_ref: str, ctx: PolicyContext, options: RayEngineOptions | None = None,
                 *, say: Say | None = None):
        import ray

        self._ray = ray
        self._policy_ref = policy_ref
        self._ctx = ctx
        self._options = options or RayEngineOptions()
        self._say = say or say_on_stderr
        self.placement = self._options.placement_for(ctx.device)
        self._connection: RayConnection | None = None
        self._server: Any = None
        self.slots: list[_Slot] = []
        self._announced = 0  # workers the engine line last told of
        try:
            if self._options.address is None:
                # A typo in the policy name is one line at once, not after Ray and an actor started.
                # (On a cluster the policy's code may live on the nodes only: the actors say then.)
                resolve_policy_factory(policy_ref)
            self._connection = connect(self._options)
            wants_gpu = ctx.device.strip().lower() != "cpu"
            if wants_gpu and self._conn.gpus < 1:
                raise UsageError(f"--device {ctx.device} but the Ray cluster has no GPU; use --device cpu")
            self._runtime_env = actor_runtime_env(local=self._conn.local)
            workers = self._conn.workers
            if self.placement == PolicyPlacement.SHARED:
                self._server = self._start_policy_server(gpus=1.0 if wants_gpu else 0.0)
                self._worker_gpus = 0.0
            else:
                self._worker_gpus = min(1.0, self._conn.gpus / workers) if wants_gpu else 0.0
                # One worker now, for the policy's info; the rest when there are episodes to run
                # (a rerun with nothing left to do starts no more).
                self.slots = [self._start_slot(0, 1)]
                self._wait_ready(self.slots)
            self._info = self._fetch_info()
        except BaseException:
            self.close()
            raise

    @property
    def _conn(self) -> RayConnection:
        assert self._connection is not None, "the executor is closed"
        return self._connection

    # -- actors --------------------------------------------------------------------------------
    def _start_policy_server(self, *, gpus: float) -> Any:
        opts = self._options
        server_cls = self._ray.remote(BatchingPolicyServer)
        return server_cls.options(
            num_cpus=0,
            num_gpus=gpus,
            # Ray restarts it when it dies; episodes that were waiting on it are retried.
            max_restarts=opts.max_retries,
            max_task_retries=0,
            runtime_env=self._runtime_env or None,
        ).remote(self._policy_ref, self._ctx, batch_max=opts.batch_max, batch_wait_ms=opts.batch_wait_ms,
                 clients=self._conn.workers)

    def _start_slot(self, index: int, generation: int) -> _Slot:
        name = f"worker-{index}" + (f".{generation}" if generation > 1 else "")
        actor_cls = self._ray.remote(SimWorker)
        actor = actor_cls.options(
            num_cpus=1,
            num_gpus=self._worker_gpus,
            max_restarts=0,  # the executor replaces a dead worker itself, and retries its episode
            max_task_retries=0,
            scheduling_strategy="SPREAD",
            runtime_env=self._runtime_env or None,
        ).remote(name, self._policy_ref, self._ctx, self._server)
        return _Slot(index=index, generation=generation, actor=actor, name=name)

    def _wait_ready(self, slots: Sequence[_Slot]) -> None:
        refs = [s.actor.ready.remote() for s in slots]
        try:
            answers = self._ray.get(refs, timeout=self._options.start_timeout_s)
        except self._ray.exceptions.GetTimeoutError:
            raise WamEvalError(
                f"{len(slots)} worker(s) did not start within {self._options.start_timeout_s:g}s; "
                "the cluster may lack free CPUs (see `ray status`)"
            ) from None
        except self._ray.exceptions.RayError as exc:
            raise _unwrap_start_error(exc, "a worker failed to start") from None
        for slot, (_name, node, _pid) in zip(slots, answers):
            slot.node = node

    def _fetch_info(self) -> PolicyInfo:
        try:
            if self._server is not None:
                return self._ray.get(self._server.info.remote(), timeout=self._options.start_timeout_s)
            return self._ray.get(self.slots[0].actor.policy_info.remote(), timeout=self._options.start_timeout_s)
        except self._ray.exceptions.GetTimeoutError:
            raise WamEvalError(f"the policy did not load within {self._options.start_timeout_s:g}s") from None
        except self._ray.exceptions.RayError as exc:
            raise _unwrap_start_error(exc, "the policy failed to load") from None

    def _replace(self, slot: _Slot, job_ref: Any) -> bool:
        """A fresh actor in the dead one's place. False when none can be started (the cluster
        shrank): the run goes on with the workers it has."""
        try:
            self._ray.kill(slot.actor, no_restart=True)
        except Exception:  # noqa: BLE001 - it is already gone
            pass
        fresh = self._start_slot(slot.index, slot.generation + 1)
        try:
            self._wait_ready([fresh])
        except WamEvalError as exc:
            self._say(f"{slot.name} could not be replaced ({exc}); going on with fewer workers", "error")
            return False
        fresh.actor.configure.remote(job_ref, self._info)
        slot.generation, slot.actor, slot.name, slot.node = fresh.generation, fresh.actor, fresh.name, fresh.node
        slot.last_key = None
        return True

    # -- Executor protocol ---------------------------------------------------------------------
    def policy_info(self) -> PolicyInfo:
        return self._info

    def run(self, job: WorkerJob, keys: Sequence[EpisodeKey], on_result: Callable[[EpisodeResult], None]) -> None:
        self.start_workers(len(keys))
        self._dispatch(EpisodeWork(job=job, queue=TaskQueue(keys), on_result=on_result), self._configure_all(job))

    def prepare(self, job: WorkerJob, next_item: Callable[[], PrepItem | None],
                on_result: Callable[[PrepResult], None], on_failure: Callable[[PrepItem, str], None], *,
                expected: int) -> None:
        """Preparation items on the workers, one per free worker, asked of `next_item` as workers
        free up (it may hand out more once results are in; None: nothing now). A worker that dies
        under an item is replaced and the item retried, up to max_retries; then on_failure."""
        self.start_workers(expected)
        self._dispatch(PrepWork(next_item=next_item, on_result=on_result, on_failure=on_failure),
                       self._configure_all(job))

    # -- the dispatch loop, one for every kind of work -------------------------------------------
    def _dispatch(self, work: Work, job_ref: Any) -> None:
        """Hand an item to each free worker, collect results as they come, retry or give up what
        failed, stop what is overdue; until no item is left and none is running."""
        state = _Dispatch(work=work, job_ref=job_ref)
        while True:
            for slot in self.slots:
                if slot.running is not None:
                    continue
                busy = [s.running.item for s in self.slots if s.running is not None]
                taken = work.take(slot, busy)
                if taken is None:
                    break
                self._submit(work, slot, *taken)
            running = {s.running.ref: s for s in self.slots if s.running is not None}
            if not running:
                if work.pending():
                    raise WamEvalError(f"no worker is left to run the {work.pending()} {work.noun} still queued")
                return
            # A timeout keeps Ctrl-C responsive: the driver gets back to Python every second.
            ready, _ = self._ray.wait(list(running), num_returns=1, timeout=1.0)
            for ref in ready:
                self._collect(running[ref], state)
            self._stop_overdue(state)

    def _submit(self, work: Work, slot: _Slot, item: Any, number: int) -> None:
        slot.running = Attempt(item=item, number=number, ref=work.submit(slot, item, number))

    def _collect(self, slot: _Slot, state: _Dispatch) -> None:
        ray = self._ray
        attempt, slot.running = slot.running, None
        assert attempt is not None
        try:
            value = ray.get(attempt.ref)
        except ray.exceptions.RayTaskError as exc:
            state.work.broken(slot, attempt, f"worker error: {describe_failure(exc)}")
            return
        except ray.exceptions.RayError as exc:  # the worker died under the item
            self._retry_or_give_up(slot, attempt, describe_failure(exc), state, worker_died=True)
            return
        retry = state.work.accept(slot, attempt, value)
        if retry is not None:  # the shared policy actor died under it; the worker is alive
            self._retry_or_give_up(slot, attempt, retry, state, worker_died=False)

    def _retry_or_give_up(self, slot: _Slot, attempt: Attempt, reason: str, state: _Dispatch, *,
                          worker_died: bool) -> None:
        work = state.work
        reasons = state.failures.setdefault(work.failures_key(attempt.item), [])
        # A dead worker gets a fresh actor in its place; when the policy actor died, Ray restarts
        # that, and the worker (alive) runs the item again.
        who, alive = self._after_failure(slot, reasons, reason, state.job_ref, replace=worker_died)
        if attempt.number > self._options.max_retries:
            work.give_up(slot, attempt, reasons, worker=who, worker_died=worker_died)
            return
        self._say(
            f"{who} failed {work.doing(attempt.item)} ({reason}); retrying on "
            f"{'a fresh worker' if worker_died else 'the same worker'} (attempt {attempt.number + 1} of "
            f"{self._options.max_retries + 1})", "warning",
        )
        if alive:
            self._submit(work, slot, attempt.item, attempt.number + 1)
        else:
            work.put_back(attempt.item, attempt.number + 1)  # another worker takes it

    def _after_failure(self, slot: _Slot, reasons: list[str], reason: str, job_ref: Any, *,
                       replace: bool) -> tuple[str, bool]:
        """What every failed attempt needs: its reason kept, a fresh actor in a dead worker's place
        (the slot dropped when none can be started) and the policy actor told how many workers it
        serves. Returns the failed worker's name and whether the slot has a live actor."""
        reasons.append(reason)
        who = slot.name
        alive = self._replace(slot, job_ref) if replace else True
        if not alive:
            self.slots.remove(slot)
        if self._server is not None:
            self._sync_clients()
        return who, alive

    def _configure_all(self, job: WorkerJob) -> Any:
        """Send the job to every worker (a dead one is replaced); returns the job's object ref."""
        ray = self._ray
        job_ref = ray.put(job)
        configured = [(slot, slot.actor.configure.remote(job_ref, self._info)) for slot in self.slots]
        for slot, ref in configured:
            try:
                ray.get(ref)
            except ray.exceptions.RayTaskError as exc:
                raise _unwrap_start_error(exc, "setting up a worker failed") from None
            except ray.exceptions.RayError:  # it died meanwhile: a fresh one in its place
                if not self._replace(slot, job_ref):
                    self.slots.remove(slot)
        return job_ref

    def start_workers(self, episodes: int) -> None:
        """Start the workers for a run of this many episodes (at most --workers); run() does it
        itself, calling it first lets a caller keep actor starts apart from the episodes."""
        count = min(self._conn.workers, episodes)
        if len(self.slots) < count:
            fresh = [self._start_slot(i, 1) for i in range(len(self.slots), count)]
            self.slots.extend(fresh)
            self._wait_ready(fresh)
            if self._server is not None:
                self._ray.get(self._sync_clients())
        elif not self.slots or self._announced == len(self.slots):
            return
        self._announced = len(self.slots)
        where = "one shared batching actor" if self._server is not None else "inside each worker"
        nodes = {s.node for s in self.slots}
        kind = "local Ray" if self._conn.local else "Ray cluster"
        self._say(
            f"engine {kind}: {len(self.slots)} worker(s) on {len(nodes)} node(s) "
            f"({self._conn.cpus:g} CPUs, {self._conn.gpus:g} GPUs); policy {where}", "info",
        )

    def _sync_clients(self) -> Any:
        """Tell the policy actor how many workers it serves (again after it restarted): a batch is
        full once every worker has asked, with no waiting for requests that cannot come."""
        return self._server.set_clients.remote(max(1, len(self.slots)))

    def _stop_overdue(self, state: _Dispatch) -> None:
        """An item past --episode-timeout is hung (a simulator deadlock, a policy that never
        answers): its worker is killed and the item takes the path of a worker that died. A late
        episode whose request (or reset) the shared policy actor holds is the policy's, not its
        worker's: once such a request has waited past the limit, that actor is restarted instead,
        and every episode waiting on it is retried (the shared actor's path)."""
        late = self._overdue()
        if not late:
            return
        requests = {slot.index: state.work.policy_request(attempt.item) for slot, attempt in late}
        if self._server is not None and any(requests.values()):
            limit = self._options.episode_timeout_s or 0.0
            waiting = self._waiting_on_policy()
            if waiting is None or any(waiting.get(r, 0.0) > limit for r in requests.values() if r):
                self._restart_policy_server()
                return
            # An item whose request the policy actor holds is the policy's: it is judged by that wait.
            late = [(slot, attempt) for slot, attempt in late if requests[slot.index] not in waiting]
        for slot, attempt in late:
            slot.running = None
            self._retry_or_give_up(slot, attempt, self._overdue_reason(), state, worker_died=True)

    def _overdue(self) -> list[tuple[_Slot, Attempt]]:
        """Slots whose attempt has run past --episode-timeout without a result (one that finished
        meanwhile is left for the next pass to collect)."""
        limit = self._options.episode_timeout_s
        if not limit:
            return []
        now = time.monotonic()
        late = [(s, s.running) for s in self.slots if s.running is not None and now - s.running.started > limit]
        if not late:
            return []
        done, _ = self._ray.wait([a.ref for _, a in late], num_returns=len(late), timeout=0)
        finished = set(done)
        return [(s, a) for s, a in late if a.ref not in finished]

    def _overdue_reason(self) -> str:
        return (f"no result within the time limit of {self._options.episode_timeout_s:g}s (--episode-timeout); "
                "the worker was killed")

    def _waiting_on_policy(self) -> dict[str, float] | None:
        """How long the shared policy actor has held each episode's request ({} without one);
        None when it does not answer at all (stuck too)."""
        if self._server is None:
            return {}
        try:
            return self._ray.get(self._server.waiting_s.remote(), timeout=30.0)
        except Exception:  # noqa: BLE001 - an actor that cannot say counts as stuck
            return None

    def _restart_policy_server(self) -> None:
        """Kill the stuck shared policy actor for Ray to restart; the workers waiting on it get
        PolicyServerLost and their episodes are retried."""
        limit = self._options.episode_timeout_s
        self._say(
            f"the shared policy actor has held a request for over {limit:g}s (--episode-timeout); "
            "restarting it, and the episodes waiting on it are retried", "warning",
        )
        try:
            self._ray.kill(self._server, no_restart=False)
        except Exception:  # noqa: BLE001 - it is gone already
            pass
        now = time.monotonic()
        for slot in self.slots:  # their answers (PolicyServerLost) are on the way; no second verdict
            if slot.running is not None:
                slot.running.started = now

    def close(self) -> None:
        ray = self._ray
        if not ray.is_initialized():
            return
        # Idle actors close their env and policy (a GPU policy may hold files or a server);
        # busy ones (an interrupted run) are killed at once.
        idle = [s.actor for s in self.slots if s.running is None]
        closing = [a.close.remote() for a in idle]
        if self._server is not None:
            closing.append(self._server.close.remote())
        if closing:
            try:
                ray.wait(closing, num_returns=len(closing), timeout=_CLOSE_TIMEOUT_S)
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
        for actor in [s.actor for s in self.slots] + ([self._server] if self._server is not None else []):
            try:
                ray.kill(actor, no_restart=True)
            except Exception:  # noqa: BLE001
                pass
        self.slots = []
        self._server = None
        disconnect(self._connection)
        self._connection = None


def ray_executor_factory(options: RayEngineOptions, *, say: Say | None = None
                         ) -> Callable[[str, PolicyContext], RayExecutor]:
    """What RunOptions.executor_factory takes: the driver calls it with the policy and context."""

    def factory(policy_ref: str, ctx: PolicyContext) -> RayExecutor:
        return RayExecutor(policy_ref, ctx, options, say=say)

    return factory
