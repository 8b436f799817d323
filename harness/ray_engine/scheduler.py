"""The driver's queue of episode keys. Keys are grouped by task: building a simulator for a task
costs seconds, so a worker keeps taking episodes of the task its env already holds, and a worker
that needs a new task takes one nobody else is on. Workers ask when they are free, so a fast worker
takes more episodes than a slow one."""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Iterable

from harness.api.types import EpisodeKey


def _task_of(key: EpisodeKey) -> tuple[str, str, str, str]:
    # The setting is part of the env's identity for benchmarks whose settings change the scene.
    return key.benchmark, key.suite, key.task, key.setting


class TaskQueue:
    def __init__(self, keys: Iterable[EpisodeKey]):
        self._by_task: OrderedDict[tuple, deque[EpisodeKey]] = OrderedDict()
        for key in keys:
            self._by_task.setdefault(_task_of(key), deque()).append(key)

    def __len__(self) -> int:
        return sum(len(q) for q in self._by_task.values())

    def push_front(self, key: EpisodeKey) -> None:
        """Put a key back first in line for its task (an episode whose worker could not take it)."""
        task = _task_of(key)
        if task not in self._by_task:
            self._by_task[task] = deque()
            self._by_task.move_to_end(task, last=False)
        self._by_task[task].appendleft(key)

    def next_for(self, current: EpisodeKey | None, busy: Iterable[EpisodeKey]) -> EpisodeKey | None:
        """The next key for a free worker whose env last ran `current`'s task, while other workers
        run the episodes in `busy`. Its own task first; else the first task no one is on; else
        help on the task with the most keys left."""
        if current is not None:
            own = self._by_task.get(_task_of(current))
            if own:
                return self._pop(_task_of(current))
        taken = {_task_of(k) for k in busy}
        for task, queue in self._by_task.items():
            if queue and task not in taken:
                return self._pop(task)
        if not self._by_task:
            return None
        task = max(self._by_task, key=lambda t: len(self._by_task[t]))
        return self._pop(task) if self._by_task[task] else None

    def _pop(self, task: tuple) -> EpisodeKey:
        queue = self._by_task[task]
        key = queue.popleft()
        if not queue:
            del self._by_task[task]
        return key
