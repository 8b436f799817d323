"""What a user chooses about the Ray engine, checked before Ray starts."""

from __future__ import annotations

import enum
import math
import os
from dataclasses import dataclass

from harness.api.errors import UsageError


class PolicyPlacement(str, enum.Enum):
    """Where the policy runs. WORKER: one copy inside every simulator actor (CPU policies: no hop,
    no batching wait). SHARED: one actor serving all workers, batching their requests (one GPU
    model for many simulators)."""

    WORKER = "worker"
    SHARED = "shared"


@dataclass(frozen=True)
class RayEngineOptions:
    workers: int | None = None  # None: one per CPU core (of this machine, or of the cluster joined)
    address: str | None = None  # None: start a local Ray; "auto" or host:port joins a running cluster
    placement: PolicyPlacement | None = None  # None: worker on CPU, shared on a GPU device
    batch_max: int = 8  # the shared actor's largest batch
    batch_wait_ms: float = 5.0  # how long a batch waits for more requests once the first has come
    max_retries: int = 2  # fresh-actor retries of an episode whose worker died
    verbose: bool = False  # actor output (robosuite and policy prints) to the driver's terminal
    # Seconds to wait for an actor to start (and its policy to load) before the run gives up.
    start_timeout_s: float = 600.0
    # Seconds one episode attempt may take on a worker (env build included) before it counts as hung;
    # None: no limit. The default is far above any protocol's longest episode on a CPU (RoboTwin's
    # 1700 steps), so only a real hang reaches it.
    episode_timeout_s: float | None = 3600.0

    def __post_init__(self) -> None:
        if self.workers is not None and self.workers < 1:
            raise UsageError(f"--workers must be at least 1 for the Ray engine (0 runs in-process), not {self.workers}")
        if self.batch_max < 1:
            raise UsageError(f"--batch-max must be at least 1, not {self.batch_max}")
        if self.batch_wait_ms < 0:
            raise UsageError(f"--batch-wait-ms must not be negative, not {self.batch_wait_ms}")
        if self.max_retries < 0:
            raise UsageError(f"--max-retries must not be negative, not {self.max_retries}")
        if not math.isfinite(self.batch_wait_ms):
            raise UsageError(f"--batch-wait-ms must be a finite number of milliseconds, not {self.batch_wait_ms}")
        timeout = self.episode_timeout_s
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise UsageError(f"--episode-timeout must be positive seconds (0 on the command line: no limit), not "
                             f"{self.episode_timeout_s}")

    def placement_for(self, device: str) -> PolicyPlacement:
        if self.placement is not None:
            return PolicyPlacement(self.placement)
        return PolicyPlacement.WORKER if device.strip().lower() == "cpu" else PolicyPlacement.SHARED


def local_cores() -> int:
    """Cores this process may use (the affinity mask, so a container's limit counts)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
