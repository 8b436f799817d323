"""The Ray engine: episodes spread over simulator actors on one machine or a cluster.

- options.py    what the user chooses (workers, address, policy placement, batching, retries)
- cluster.py    starting or joining Ray, and the runtime environment every actor gets
- scheduler.py  the driver-side queue of episode keys, grouped by task so envs are reused
- actors.py     the simulator worker actor (one env, an EpisodeRunner; also runs preparation items)
- batching.py   the shared policy actor that batches requests from all workers
- work.py       the kinds of work dispatched (episodes, preparation items): what differs between them
- executor.py   RayExecutor: one dispatch loop for every kind of work, results back to the driver,
                retries when a worker dies; it tells the user things through a `say` callback
"""

from harness.ray_engine.executor import RayExecutor, ray_executor_factory
from harness.ray_engine.options import PolicyPlacement, RayEngineOptions

__all__ = ["PolicyPlacement", "RayEngineOptions", "RayExecutor", "ray_executor_factory"]
