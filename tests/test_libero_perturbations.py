"""LIBERO-PRO's perturbed suites: every registered suite is listed with whether it can run here (and
the check is right: runnable suites build, the others fail as the check says), step limits come from
the base suite, and the instruction a perturbed task gives is its perturbation's."""

from __future__ import annotations

import contextlib
import io

import pytest

from envs.libero import LiberoBenchmark
from envs.libero.catalog import load_suites
from envs.libero.perturbations import KIND_BY_KEY, check_suites, classify
from envs.presets import resolve_preset
from envs.registry import find_suite
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey
from harness.cli import main
from harness.spec import EvalSpec, plan_tasks
from harness.worker import WorkerJob, job_tasks

BENCH = LiberoBenchmark()
SUITES = {s.name: s for s in load_suites()}
PERTURBED = [s for s in SUITES.values() if s.varies]
# One runnable suite of each kind (and base suite in turn): the default run builds these; the slow
# sweep builds the first task of every registered suite.
REPRESENTATIVE = ["libero_goal_lan", "libero_object_object", "libero_spatial_swap", "libero_10_task",
                  "libero_goal_with_mug", "libero_object_two_normal_episodes"]


def _registered() -> dict[str, int]:
    from libero.libero import benchmark

    out = {}
    for name, cls in benchmark.get_benchmark_dict().items():
        with contextlib.redirect_stdout(io.StringIO()):
            out[name] = len(cls().tasks)
    return out


def test_every_registered_suite_is_listed_with_its_kind_and_status(capsys):
    registered = _registered()
    assert set(SUITES) == {n for n, count in registered.items() if count}  # libero_100 registers no task
    assert len(PERTURBED) == 75
    for suite in PERTURBED:
        assert classify(suite.name).base == suite.varies and suite.variation in KIND_BY_KEY
        assert len(suite.tasks) == registered[suite.name]
    assert main(["list", "--benchmark", "libero"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip().startswith("libero_")}
    for suite in PERTURBED:
        line = lines[suite.name]
        assert f"{len(suite.tasks)} tasks" in line
        assert ("fixed init states" in line)
        if suite.unavailable:
            assert suite.unavailable.split(":")[-1].strip() in line
        else:
            assert line.rstrip().endswith("runs")
    # The five leaderboard kinds of every base suite are there, env among those that cannot run here.
    for base in ("libero_spatial", "libero_object", "libero_goal", "libero_10"):
        for kind in ("lan", "object", "swap", "task"):
            assert not SUITES[f"{base}_{kind}"].unavailable
        assert "no BDDL file" in SUITES[f"{base}_env"].unavailable
    assert "red_sticker" in SUITES["libero_goal_with_red_stick"].unavailable


def test_checks_are_cached_and_match_a_fresh_check():
    cached = check_suites()
    fresh = check_suites(use_cache=False)
    assert cached.from_cache and not fresh.from_cache
    assert cached.suites == fresh.suites


def test_a_suite_that_cannot_run_is_refused_in_one_line():
    preset = resolve_preset("openpi-libero")
    with pytest.raises(UsageError, match=r"^suite libero_goal_env cannot run on this install: every task: no BDDL"):
        plan_tasks(EvalSpec("libero", "noop", suites=("libero_goal_env",)), BENCH, preset)
    with pytest.raises(UsageError, match=r"task 3 .* initial-state file is empty; its runnable tasks are --tasks 0,1,2,5"):
        plan_tasks(EvalSpec("libero", "noop", suites=("libero_10_with_milk",)), BENCH, preset)
    planned = plan_tasks(EvalSpec("libero", "noop", suites=("libero_10_with_milk",), tasks="0-2"), BENCH, preset)
    assert [p.episodes for p in planned] == [tuple(range(10))] * 3  # the suite ships 10 init states per task
    assert main(["run", "--suite", "libero_goal_env", "--policy", "noop", "--workers", "0"]) == 2


def test_step_limits_come_from_the_base_suite():
    lan = find_suite(BENCH, "libero_10_lan").tasks[0]
    mug = find_suite(BENCH, "libero_goal_with_mug").tasks[0]
    assert lan.limits_from == "libero_10" and mug.limits_from == "libero_goal"
    limits = {name: resolve_preset(name) for name in ("openpi-libero", "openpi-libero-pro", "fastwam-libero",
                                                       "fastwam-libero-pro", "libero-pro")}
    assert limits["openpi-libero"].max_steps_for(lan.suite, lan.name, lan.limits_from) == 520
    assert limits["openpi-libero-pro"].max_steps_for(lan.suite, lan.name, lan.limits_from) == 520
    assert limits["openpi-libero-pro"].max_steps["libero_10_lan"] == 520  # stated in the preset, hashed
    assert limits["fastwam-libero-pro"].max_steps_for(lan.suite, lan.name, lan.limits_from) == 700
    assert limits["fastwam-libero-pro"].max_steps_for(mug.suite, mug.name, mug.limits_from) == 400
    assert limits["libero-pro"].max_steps_for(lan.suite, lan.name, lan.limits_from) == 300
    assert limits["libero-pro"].params["instruction"] == "bddl" and limits["libero-pro"].official
    # The family keeps its base protocol: only step limits differ.
    from envs.presets import diff_presets

    assert {k.split(".")[0] for k, _, _ in diff_presets(limits["fastwam-libero"], limits["fastwam-libero-pro"])} == {"max_steps"}
    assert {k.split(".")[0] for k, _, _ in diff_presets(limits["openpi-libero"], limits["openpi-libero-pro"])} == {"max_steps"}


def test_perturbed_instructions_are_the_perturbation():
    base = find_suite(BENCH, "libero_goal").tasks
    lan = find_suite(BENCH, "libero_goal_lan").tasks
    swap = find_suite(BENCH, "libero_goal_swap").tasks
    task = find_suite(BENCH, "libero_goal_task").tasks
    assert [t.name for t in lan] == [t.name for t in base]
    assert all(a.instruction != b.instruction for a, b in zip(lan, base))  # reworded
    assert [t.instruction for t in swap] == [t.instruction for t in base]  # same words, moved objects
    assert task[0].instruction == "open the bottom drawer of the cabinet" != base[0].instruction


def test_a_perturbed_task_never_runs_as_its_base_task():
    tasks = job_tasks(t for s in SUITES.values() for t in s.tasks)
    job = WorkerJob(benchmark="libero", preset=resolve_preset("openpi-libero"), tasks=tasks, cameras=())
    name = SUITES["libero_goal"].tasks[0].name
    assert job.task_for(EpisodeKey("libero", "libero_goal_lan", name, "default", 0)).suite == "libero_goal_lan"
    assert job.task_for(EpisodeKey("libero", "libero_goal", name, "default", 0)).suite == "libero_goal"
    assert tasks[name].suite == "libero_goal"  # bare names: the original suite
    # The Ray engine's error row for a dead worker names the perturbed task's own instruction.
    from harness.ray_engine.executor import _Slot
    from harness.ray_engine.work import Attempt, EpisodeWork

    key = EpisodeKey("libero", "libero_goal_lan", name, "default", 0)
    work = EpisodeWork(job=job, queue=None, on_result=lambda result: None)
    row = work._error_row(_Slot(0, 0, None, "w0"), Attempt(key, 2, None), "worker died")
    assert row.instruction == SUITES["libero_goal_lan"].tasks[0].instruction != SUITES["libero_goal"].tasks[0].instruction


def _build_first_task(suite_name: str):
    suite = SUITES[suite_name]
    task = next(t for t in suite.tasks if t.name not in suite.problems) if len(suite.problems) < len(suite.tasks) \
        else suite.tasks[0]
    env = BENCH.make_env(task, resolve_preset("openpi-libero"), cameras=())
    try:
        out = env.reset(EpisodeKey("libero", suite.name, task.name, "default", 0), render=False)
        assert out.observation.instruction == task.instruction
        step = env.step(BENCH.noop_action_for(resolve_preset("openpi-libero")), render=False)
        assert step.observation.state.shape == (8,)
    finally:
        env.close()


@pytest.mark.parametrize("suite", REPRESENTATIVE)
def test_a_runnable_suite_of_each_kind_builds(suite):
    assert not SUITES[suite].unavailable
    _build_first_task(suite)


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(SUITES), ids=str)
def test_every_registered_suite_builds_exactly_when_the_check_says(suite):
    info = SUITES[suite]
    if len(info.problems) < len(info.tasks):
        _build_first_task(suite)
    else:
        with pytest.raises((AssertionError, FileNotFoundError, ValueError)):  # missing BDDL, model, states
            _build_first_task(suite)
