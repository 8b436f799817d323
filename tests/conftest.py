from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.preset_texts import SHORT_LIBERO_PRESET


@pytest.fixture
def short_preset(tmp_path: Path) -> Path:
    """A LIBERO preset with openpi's structure but tiny limits and frames, so episodes take seconds."""
    path = tmp_path / "test-short.toml"
    path.write_text(SHORT_LIBERO_PRESET)
    return path


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "store.sqlite"


# -- one Ray for the tests that can share it ----------------------------------------------------------
# Starting a local Ray costs 5-10 s. Tests that run the engine in this process and only need a local
# Ray with 2 CPUs ask for `shared_ray`: the first starts it, the next ones join it (the engine treats
# it as local and leaves it running). Every other test finds no Ray running, so tests that start their
# own (a Ray that cannot start, a two-node cluster, an unreachable address, drivers in subprocesses)
# see what a user's first run sees; docs/testing.md lists them.
SHARED_RAY_CPUS = 2


@pytest.fixture
def shared_ray():
    import ray

    from harness.ray_engine.cluster import local_init_options

    if not ray.is_initialized():
        ray.init(**local_init_options(SHARED_RAY_CPUS))
    yield


@pytest.fixture(autouse=True)
def _no_leftover_ray(request):
    """A test that did not ask for the shared Ray must not find it running."""
    if "shared_ray" not in request.fixturenames and "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
    yield


def pytest_sessionfinish(session, exitstatus):
    if "ray" in sys.modules:
        import ray

        if ray.is_initialized():
            ray.shutdown()
