"""What the Ray executor dispatches: episodes and preparation items behind one `Work` protocol, so
one loop (RayExecutor._dispatch) hands them to free workers, collects them, retries them when a
worker dies and gives them up after --max-retries. Each kind says only what differs: where its
items come from, what a worker is asked, and what a result, a failure or giving up means."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Generic, Hashable, Protocol, TypeVar

from harness.api.types import EpisodeKey, EpisodeResult, ErrorSource, PrepItem, PrepResult
from harness.ray_engine.scheduler import TaskQueue
from harness.worker import WorkerJob

if TYPE_CHECKING:
    from harness.ray_engine.executor import _Slot

Item = TypeVar("Item")


@dataclass
class Attempt(Generic[Item]):
    item: Item  # the EpisodeKey or PrepItem it runs
    number: int  # 1 for the first try
    ref: Any  # the ObjectRef of the actor's call
    started: float = field(default_factory=time.monotonic)


class Work(Protocol[Item]):
    """One kind of work item, as the dispatch loop sees it."""

    noun: str  # "episode(s)", in the line that says none can run any more

    def take(self, slot: _Slot, busy: list[Item]) -> tuple[Item, int] | None:
        """The next item for a free worker and its attempt number; None: nothing now."""
        ...

    def pending(self) -> int:
        """Items waiting for a worker (a run that has none left but these cannot finish)."""
        ...

    def put_back(self, item: Item, number: int) -> None:
        """An item whose worker is gone and could not be replaced, for another worker to take."""
        ...

    def submit(self, slot: _Slot, item: Item, number: int) -> Any:
        """Ask the slot's actor to run the item; returns the call's ObjectRef."""
        ...

    def failures_key(self, item: Item) -> Hashable: ...

    def policy_request(self, item: Item) -> str | None:
        """The id under which the shared policy actor knows the item's requests; None for work that
        never asks the policy (then a late item is always its worker's fault)."""
        ...

    def doing(self, item: Item) -> str:
        """What a worker was doing, for the retry line: "on <episode id>", "preparing <label>"."""
        ...

    def accept(self, slot: _Slot, attempt: Attempt[Item], value: Any) -> str | None:
        """A result came back: hand it on and return None, or return why the attempt must be
        retried on the same (live) worker (the shared policy actor died under it)."""
        ...

    def broken(self, slot: _Slot, attempt: Attempt[Item], message: str) -> None:
        """The worker's own code raised outside what it contains: a retry would raise again."""
        ...

    def give_up(self, slot: _Slot, attempt: Attempt[Item], reasons: list[str], *, worker: str,
                worker_died: bool) -> None:
        """Every attempt failed; `reasons` says why each did."""
        ...


@dataclass
class EpisodeWork:
    """Episodes of a run: a task-grouped queue, results (error rows included) to `on_result`."""

    job: WorkerJob
    queue: TaskQueue
    on_result: Callable[[EpisodeResult], None]
    # Keys put back in the queue after their worker could not be replaced: the attempt they are at,
    # so --max-retries counts across workers.
    requeued: dict[EpisodeKey, int] = field(default_factory=dict)
    noun: str = "episode(s)"

    def take(self, slot: _Slot, busy: list[EpisodeKey]) -> tuple[EpisodeKey, int] | None:
        if not len(self.queue):
            return None
        key = self.queue.next_for(slot.last_key, busy)
        return None if key is None else (key, self.requeued.pop(key, 1))

    def pending(self) -> int:
        return len(self.queue)

    def put_back(self, item: EpisodeKey, number: int) -> None:
        self.queue.push_front(item)  # first in line for its task
        self.requeued[item] = number

    def submit(self, slot: _Slot, item: EpisodeKey, number: int) -> Any:
        slot.last_key = item  # the task the actor's env will hold
        return slot.actor.run.remote(item, number)

    def failures_key(self, item: EpisodeKey) -> Hashable:
        return item

    def policy_request(self, item: EpisodeKey) -> str | None:
        return item.id

    def doing(self, item: EpisodeKey) -> str:
        return f"on {item.id}"

    def accept(self, slot: _Slot, attempt: Attempt[EpisodeKey], value: EpisodeResult) -> str | None:
        if value.error_source == ErrorSource.POLICY_SERVER:
            return value.error or "the shared policy actor died"
        self.on_result(value)
        return None

    def broken(self, slot: _Slot, attempt: Attempt[EpisodeKey], message: str) -> None:
        # The worker's code raised outside the episode loop (which catches env and policy faults):
        # a bug that a retry would repeat. The worker is alive; store the error.
        self.on_result(self._error_row(slot, attempt, message))

    def give_up(self, slot: _Slot, attempt: Attempt[EpisodeKey], reasons: list[str], *, worker: str,
                worker_died: bool) -> None:
        what = "worker died" if worker_died else "shared policy actor died"
        message = f"{what} {len(reasons)} time(s) running this episode; last: {reasons[-1]}"
        self.on_result(self._error_row(slot, attempt, message, worker=worker))

    def _error_row(self, slot: _Slot, attempt: Attempt[EpisodeKey], message: str, *, worker: str | None = None
                   ) -> EpisodeResult:
        task = self.job.task_for(attempt.item)
        return EpisodeResult.failed(attempt.item, ErrorSource.WORKER, message,
                                    instruction=task.instruction if task else "", worker=worker or slot.name,
                                    node=slot.node, attempts=attempt.number)


@dataclass
class PrepWork:
    """Preparation items, asked of `next_item` as workers free up (it may hand out more once results
    are in); verdicts to `on_result`, an item that cannot be done to `on_failure`."""

    next_item: Callable[[], PrepItem | None]
    on_result: Callable[[PrepResult], None]
    on_failure: Callable[[PrepItem, str], None]
    retry: deque[tuple[PrepItem, int]] = field(default_factory=deque)  # waiting for a live worker
    noun: str = "preparation item(s)"

    def take(self, slot: _Slot, busy: list[PrepItem]) -> tuple[PrepItem, int] | None:
        if self.retry:
            return self.retry.popleft()
        item = self.next_item()
        return None if item is None else (item, 1)

    def pending(self) -> int:
        return len(self.retry)

    def put_back(self, item: PrepItem, number: int) -> None:
        self.retry.append((item, number))

    def submit(self, slot: _Slot, item: PrepItem, number: int) -> Any:
        return slot.actor.prepare.remote(item)

    def failures_key(self, item: PrepItem) -> Hashable:
        return item.key

    def policy_request(self, item: PrepItem) -> str | None:
        return None

    def doing(self, item: PrepItem) -> str:
        return f"preparing {item.label or item.key}"

    def accept(self, slot: _Slot, attempt: Attempt[PrepItem], value: PrepResult) -> str | None:
        value.worker, value.node = slot.name, slot.node
        self.on_result(value)
        return None

    def broken(self, slot: _Slot, attempt: Attempt[PrepItem], message: str) -> None:
        self.on_failure(attempt.item, message)

    def give_up(self, slot: _Slot, attempt: Attempt[PrepItem], reasons: list[str], *, worker: str,
                worker_died: bool) -> None:
        self.on_failure(attempt.item, f"worker died {len(reasons)} time(s) on it; last: {reasons[-1]}")
