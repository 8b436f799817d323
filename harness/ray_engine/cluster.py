"""Starting Ray on this machine, or joining a running cluster, and what every actor inherits.

The same code serves one node and many: without an address the driver starts a private local Ray
sized to the workers asked for; with one (`ray start --head` elsewhere, then `--address HOST:PORT`,
or `auto` on a cluster node) it joins and the workers default to the cluster's CPUs.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

from envs.headless import PROBED_MARK
from harness.api.errors import UsageError, WamEvalError
from harness.ray_engine.options import RayEngineOptions, local_cores

NAMESPACE = "wam-eval"

# The headless GL choice (envs/headless.py) made in the driver. Its "already probed" mark is only
# true for this machine: on a joined cluster, each node's actors check the requested backend again.
_GL_VARS = ("MUJOCO_GL", "PYOPENGL_PLATFORM")
_GL_PROBED = PROBED_MARK


@dataclass(frozen=True)
class RayConnection:
    started: bool  # this driver called ray.init, so it shuts Ray down (or disconnects) at the end
    local: bool  # a private Ray on this machine, started by this driver
    workers: int
    cpus: float
    gpus: float
    nodes: int


def local_init_options(cpus: int, *, verbose: bool = False) -> dict[str, Any]:
    """ray.init's arguments for a private Ray on this machine with this many CPUs."""
    return {
        **_common_init_options(verbose),
        # "local" never attaches to some other cluster found on the machine (RAY_ADDRESS or the
        # last `ray start`): a private instance whose CPUs are exactly the workers asked for.
        "address": "local",
        "num_cpus": cpus,
        # Ray starts its workers at niceness 15: on a machine doing anything else, the episodes
        # (the run's real work, not background tasks) then get a fraction of the CPU they get
        # in-process. They run at the driver's niceness instead.
        "_system_config": {"worker_niceness": 0},
    }


def _common_init_options(verbose: bool) -> dict[str, Any]:
    return {
        "namespace": NAMESPACE,
        "include_dashboard": False,
        # Actor output (robosuite banners, policy prints) would tear through the progress bar.
        "log_to_driver": verbose,
        "logging_level": logging.WARNING if verbose else logging.ERROR,
    }


def connect(options: RayEngineOptions) -> RayConnection:
    import ray

    started = False
    local = options.address is None
    if not ray.is_initialized():
        if options.address is None:
            kwargs = local_init_options(options.workers or local_cores(), verbose=options.verbose)
        else:
            _check_reachable(options.address)
            kwargs = {**_common_init_options(options.verbose), "address": options.address}
        try:
            ray.init(**kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
            if local:
                raise WamEvalError(f"could not start a local Ray ({first}); `--workers 0` evaluates in-process "
                                   "without Ray") from None
            raise UsageError(f"cannot join the Ray cluster at {options.address}: {first}") from None
        started = True
    else:
        # A Ray this process already runs is used as it is, and left running. One started with
        # local_init_options (a test session shares one) is local; anyone else's is not.
        local = local and ray.get_runtime_context().namespace == NAMESPACE and len(ray.nodes()) == 1
    resources = ray.cluster_resources()
    cpus = float(resources.get("CPU", 0.0))
    workers = options.workers or max(1, int(cpus))
    if workers > cpus and not (local and started):
        if started:
            ray.shutdown()
        raise UsageError(
            f"--workers {workers} needs {workers} CPUs; the Ray cluster has {cpus:g}. Ask for at most {int(cpus)}"
        )
    return RayConnection(
        started=started,
        local=local,
        workers=workers,
        cpus=cpus,
        gpus=float(resources.get("GPU", 0.0)),
        nodes=sum(1 for n in ray.nodes() if n.get("Alive")),
    )


def _check_reachable(address: str) -> None:
    """Ray keeps retrying an address where nothing listens (for minutes); a typo deserves one line now."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host:
        host, port = address, "6379"  # `ray start --head`'s default port
    try:
        socket.create_connection((host, int(port)), timeout=5.0).close()
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise UsageError(
            f"cannot reach a Ray cluster at {address} ({reason}); start one there with `ray start --head`, "
            "or check the address"
        ) from None


def disconnect(connection: RayConnection | None) -> None:
    import ray

    if connection is not None and connection.started and ray.is_initialized():
        ray.shutdown()


def actor_runtime_env(*, local: bool) -> dict[str, Any]:
    """Environment variables every actor of the run gets: the headless GL choice and the driver's
    PYTHONPATH (so that a `module:factory` policy importable here is importable in the actors)."""
    env_vars = {name: os.environ[name] for name in _GL_VARS if os.environ.get(name)}
    if local and os.environ.get(_GL_PROBED):
        env_vars[_GL_PROBED] = os.environ[_GL_PROBED]
    if os.environ.get("PYTHONPATH"):
        env_vars["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {"env_vars": env_vars} if env_vars else {}
