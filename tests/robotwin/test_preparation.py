"""The preparation phase through the real driver, store and executors, with RoboTwin's seed rule and
a scripted expert (tests/robotwin/scripted_benchmark.py; the real expert runs in test_sapien.py):
seeds checked in parallel chunks on a real Ray cluster, a worker killed under a chunk, a driver
SIGKILLed mid-preparation and rerun, a search that gives up, a failing item, and the seeds CLI.

Runtime: about 25 s (two private Ray starts and three driver subprocesses dominate).
"""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from envs.presets import load_preset_file
from envs.robotwin import seeds
from harness.cli import main
from harness.driver import RunOptions, run_evaluation
from harness.ray_engine import RayEngineOptions, ray_executor_factory
from harness.spec import EvalSpec
from harness.store import ResultStore
from tests.robotwin.scripted_benchmark import SCRIPTED_SUFFIX, ScriptedRoboTwin

BENCH = "tests.robotwin.scripted_benchmark:ScriptedRoboTwin"
ROOT = Path(__file__).resolve().parents[2]


def write_preset(tmp_path: Path, name: str, *, steps: int = 3, chunk: int = 2, tries: int = 60, **scripted) -> Path:
    """robotwin2-primitives with short episodes and the scripted expert's behaviour."""
    scripted.setdefault("log", str(tmp_path / f"{name}.log"))
    behaviour = tmp_path / f"{name}{SCRIPTED_SUFFIX}"
    behaviour.write_text(json.dumps(scripted))
    path = tmp_path / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nextends = "robotwin2-primitives"\nversion = 1\ndescription = "tests: scripted expert"\n'
        f"source = {json.dumps(str(behaviour))}\n"
        f"[max_steps]\nstack_blocks_two = {steps}\nblocks_ranking_rgb = {steps}\n"
        f"[params]\nseed_chunk = {chunk}\nmax_seed_tries = {tries}\n"
    )
    return path


def checked(log: Path) -> list[tuple[str, int, int]]:
    """(task, seed, pid) of every expert check, in order."""
    if not log.exists():
        return []
    return [(t, int(s), int(p)) for t, s, p in (line.split() for line in log.read_text().splitlines() if line.strip())]


def verdict_rows(store: Path) -> list[tuple[str, int, int, str]]:
    """The stored verdicts, read as another process would (the driver may be creating the store)."""
    db = sqlite3.connect(store)
    try:
        return db.execute("SELECT task, candidate, accepted, source FROM verdicts ORDER BY task, candidate").fetchall()
    except sqlite3.OperationalError:  # no table yet
        return []
    finally:
        db.close()


def stored_verdicts(store: Path, task: str = "stack_blocks_two"):
    """The task's clean verdicts under the one expert protocol the store holds for it."""
    with ResultStore(store) as db:
        (group,) = db.verdict_groups("robotwin", task)
        return db.verdicts("robotwin", task, group["setting"], group["protocol"])


def spec(preset: Path, policy: str = "noop", tasks: str = "stack_blocks_two", episodes: int = 3) -> EvalSpec:
    return EvalSpec(benchmark=BENCH, policy=policy, preset=str(preset), tasks=tasks, episodes=episodes)


@pytest.mark.usefixtures("shared_ray")
def test_two_ray_workers_check_chunks_in_parallel_a_dead_one_is_replaced_and_episodes_run_on_the_stored_seeds(
        tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    preset = write_preset(tmp_path, "ray", seconds=0.2, die_on=100003)
    store = tmp_path / "s.sqlite"
    options = RunOptions(store=store, quiet=True,
                         executor_factory=ray_executor_factory(RayEngineOptions(workers=2, max_retries=1)))
    outcome = run_evaluation(spec(preset), options)

    # Seeds divisible by 3 are solved: episodes 0-2 need the candidates up to 100008, in chunks of two.
    rows = verdict_rows(store)
    candidates = [c for _, c, _, _ in rows]
    assert candidates == list(range(100000, candidates[-1] + 1)) and len(candidates) % 2 == 0, \
        "whole chunks from the start seed, each candidate stored once"
    assert candidates[-1] >= 100009 and [c for _, c, a, _ in rows if a] == [c for c in candidates if c % 3 == 0]
    assert outcome.prepared_items == len(candidates) // 2
    workers = {source.split(" on ")[0] for _, _, _, source in rows}
    assert {"worker-0", "worker-1.2"} <= workers, f"chunks came from both workers and the replacement: {workers}"
    log = checked(tmp_path / "ray.log")
    died = int((tmp_path / "ray.died").read_text())
    assert [s for _, s, pid in log if pid == died] == [100002], "the second worker checked 100002, then died on 100003"
    assert [s for _, s, _ in log].count(100002) == 2, "its chunk was checked again on a fresh worker, and stored once"

    with ResultStore(store) as db:
        episodes = db.episode_rows(outcome.run_id)
    assert [(r["episode"], r["seed"], r["success"], r["end_reason"]) for r in episodes] == [
        (0, 100002, True, "success"), (1, 100005, False, "horizon"), (2, 100008, True, "success")]
    assert episodes[0]["instruction"] == "stack_blocks_two: red block" and episodes[0]["extra"]["seed_source"] == "expert"

    # Another policy on the same seeds (in-process this time): nothing is checked again.
    again = run_evaluation(spec(preset, policy="random"), RunOptions(store=store, quiet=True))
    assert again.prepared_items == 0 and checked(tmp_path / "ray.log") == log
    assert [r.seed for r in sorted(again.results, key=lambda r: r.key.episode)] == [100002, 100005, 100008]
    assert verdict_rows(store) == rows


DRIVER = """
import sys
from pathlib import Path
from harness.driver import RunOptions, run_evaluation
from harness.spec import EvalSpec
out = run_evaluation(EvalSpec(benchmark=sys.argv[1], policy="noop", preset=sys.argv[2],
                              tasks="stack_blocks_two,blocks_ranking_rgb", episodes=3),
                     RunOptions(store=Path(sys.argv[3]), quiet=True))  # in-process
print("PREPARED", out.prepared_items, "RAN", out.ran, flush=True)
"""


def _driver(preset: Path, store: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-c", DRIVER, BENCH, str(preset), str(store)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_driver_killed_mid_preparation_reruns_without_checking_stored_chunks_again(tmp_path):
    preset = write_preset(tmp_path, "kill", seconds=0.25)
    store = tmp_path / "s.sqlite"
    proc = _driver(preset, store)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and len(verdict_rows(store)) >= 6:  # three chunks stored, seven to come
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the driver finished before it could be killed: " + proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    stored = {(t, c) for t, c, _, _ in verdict_rows(store)}
    first_lines = checked(tmp_path / "kill.log")
    first = {(t, s) for t, s, _ in first_lines}
    assert 6 <= len(stored) < 20 and stored <= first
    assert len(first - stored) <= 2, "at most the chunk in flight was lost"

    proc = _driver(preset, store)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "RAN 6" in out
    second = [(t, s) for t, s, _ in checked(tmp_path / "kill.log")][len(first_lines):]
    assert not set(second) & stored, "nothing stored was checked again"
    rows = verdict_rows(store)
    # Both tasks need seeds up to 100008 (divisible by 3: 100002, 100005, 100008): five chunks each.
    assert [(t, c) for t, c, _, _ in rows] == [(t, c) for t in ("blocks_ranking_rgb", "stack_blocks_two")
                                               for c in range(100000, 100010)]
    assert sorted(second) == sorted(set(second)) and len(second) == 20 - len(stored)
    with ResultStore(store) as db:
        (run,) = db.runs()
        episodes = db.episode_rows(run.run_id)
    assert [(r["task"], r["seed"]) for r in episodes] == [
        (t, s) for t in ("blocks_ranking_rgb", "stack_blocks_two") for s in (100002, 100005, 100008)]

    proc = _driver(preset, store)
    out, _ = proc.communicate(timeout=120)
    assert "PREPARED 0 RAN 0" in out and len(checked(tmp_path / "kill.log")) == len(first_lines) + len(second)


def test_a_search_that_gives_up_and_an_item_that_fails_become_error_rows(tmp_path):
    preset = write_preset(tmp_path, "fail", tries=4, raise_on="blocks_ranking_rgb/100001")
    store = tmp_path / "s.sqlite"
    shown = io.StringIO()
    outcome = run_evaluation(spec(preset, tasks="stack_blocks_two,blocks_ranking_rgb", episodes=2),
                             RunOptions(store=store), console=Console(file=shown, width=200))
    lines = shown.getvalue().splitlines()
    assert "[prep 1] stack_blocks_two/clean seeds 100000-100001: 0 accepted, 2 rejected" in "\n".join(lines)
    assert ("preparing blocks_ranking_rgb/clean seeds 100000-100001 failed: RuntimeError: scripted fault on seed "
            "100001") in lines
    with ResultStore(store) as db:
        rows = {(r["task"], r["episode"]): r for r in db.episode_rows(outcome.run_id)}
    assert rows[("stack_blocks_two", 0)]["seed"] == 100002 and rows[("stack_blocks_two", 0)]["success"]
    gave_up = rows[("stack_blocks_two", 1)]
    assert gave_up["end_reason"] == "error" and gave_up["extra"]["error_source"] == "preparation"
    assert gave_up["error"] == ("the expert solved 1 of the 4 seeds from 100000 for stack_blocks_two/clean; 2 are "
                                "needed (max_seed_tries 4 in the preset)")
    for episode in (0, 1):
        failed = rows[("blocks_ranking_rgb", episode)]
        assert failed["end_reason"] == "error" and "\n" not in failed["error"]
        assert failed["error"].startswith("preparing blocks_ranking_rgb/clean seeds 100000-100001 failed: "
                                          "RuntimeError: scripted fault on seed 100001; seed validation for ")
    assert not outcome.manifest.finished_at, "a run with error rows is not finished"


def test_seeds_list_and_export_from_the_cli(tmp_path, capsys):
    preset = write_preset(tmp_path, "cli")
    store = tmp_path / "s.sqlite"
    run_evaluation(spec(preset, episodes=2), RunOptions(store=store, quiet=True))
    capsys.readouterr()
    assert main(["seeds", "list", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    (line,) = [ln for ln in out.splitlines() if "stack_blocks_two" in ln]
    assert "clean" in line and "checked 6 (100000..100005)  accepted 2  imported 0" in line, out
    assert main(["seeds", "list", "--store", str(store), "--task", "blocks_ranking_rgb"]) == 0
    assert "no seed verdicts for blocks_ranking_rgb" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["seeds", "list", "--store", "{tmp}/nothing.sqlite"], "no results store at {tmp}/nothing.sqlite"),
        (["seeds", "list", "--store", "{tmp}/s.sqlite", "--task", "stack_blocks_seven"], "unknown RoboTwin task 'stack_blocks_seven'"),
        (["seeds", "import", "{tmp}/f.json", "--preset", "openpi-libero", "--store", "{tmp}/s.sqlite"],
         "preset openpi-libero is for libero; seed lists are RoboTwin's"),
        (["seeds", "export", "{tmp}/out", "--preset", "nope", "--store", "{tmp}/s.sqlite"], "unknown preset 'nope'"),
        (["seeds", "import", "{tmp}/f.json", "--preset", "robotwin2-primitives", "--store", "{tmp}/s.sqlite"],
         "RoboTwin's runtime (rlinf-robotwin-runtime) is not installed"),
    ],
)
def test_seeds_cli_errors_are_one_line_and_touch_no_store(tmp_path, capsys, monkeypatch, argv, message):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a, **k: None if n.split(".")[0] == "robotwin" else real(n, *a, **k))
    monkeypatch.delenv("ROBOTWIN_ROOT", raising=False)
    (tmp_path / "f.json").write_text(json.dumps({"task": "stack_blocks_two", "setting": "clean", "start_seed": 100000,
                                                 "seeds": [100001]}))
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and message.replace("{tmp}", str(tmp_path)) in err, err
    assert not (tmp_path / "s.sqlite").exists()


def test_a_check_that_raised_skips_its_seed_in_this_run_but_is_not_final(tmp_path, capsys):
    """Half-unpacked assets: setup_demo raises FileNotFoundError on 100002 (which the expert solves).
    The run skips it as upstream does, later runs keep the same list, and once the error verdicts are
    forgotten a fixed machine checks 100002 again, and nothing else."""
    log = str(tmp_path / "expert.log")
    broken = write_preset(tmp_path, "broken", log=log, error_on=[100002], unstable_on=[100001])
    store = tmp_path / "s.sqlite"
    shown = io.StringIO()
    first = run_evaluation(spec(broken, episodes=2), RunOptions(store=store), console=Console(file=shown, width=200))
    verdicts = stored_verdicts(store)
    with ResultStore(store) as db:
        assert [r["seed"] for r in db.episode_rows(first.run_id)] == [100005, 100008]
    assert verdicts[100002].error == "FileNotFoundError: texture for seed 100002 is missing"
    assert not verdicts[100002].accepted and verdicts[100002].payload["reason"].startswith("setup failed: ")
    assert verdicts[100001].payload["reason"] == "unstable scene: objects fell on seed 100001"
    assert not verdicts[100001].error
    checked_first = len(verdicts)
    (summary,) = [ln for ln in shown.getvalue().splitlines() if ln.startswith("preparation done")]
    assert (f"{checked_first // 2} item(s), {checked_first} candidate(s) checked, 2 accepted, {checked_first - 3} "
            "rejected by the check, 1 rejected by errors (stack_blocks_two/clean 100002: FileNotFoundError: texture "
            "for seed 100002 is missing)") in summary
    assert f"`wam-eval seeds forget --errors --store {store}`" in summary

    # Until forgotten the error counts as rejected: another run (or a resume) keeps the same seed list.
    again = run_evaluation(spec(broken, policy="random", episodes=2), RunOptions(store=store, quiet=True))
    assert again.prepared_items == 0 and [r.seed for r in sorted(again.results, key=lambda r: r.key.episode)] == [
        100005, 100008]
    capsys.readouterr()
    assert main(["seeds", "list", "--store", str(store)]) == 0
    assert f"checked {checked_first} (100000..{100000 + checked_first - 1})  accepted 2  imported 0  errors 1" in \
        capsys.readouterr().out

    assert main(["seeds", "forget", "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "seeds forget needs --errors" in err and "the expert's own verdicts are final" in err
    assert main(["seeds", "forget", "--errors", "--task", "blocks_ranking_rgb", "--store", str(store)]) == 0
    assert "no error verdicts to forget" in capsys.readouterr().out
    # Both runs stored episodes on the current list: forgetting could shift it under them if resumed.
    assert main(["seeds", "forget", "--errors", "--store", str(store)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "runs have stored episodes where error verdicts would be forgotten" in err
    assert f"{first.run_id} (stack_blocks_two/clean)" in err and f"{again.run_id} (stack_blocks_two/clean)" in err
    assert stored_verdicts(store)[100002].error, "nothing was forgotten"
    assert main(["seeds", "forget", "--errors", "--force", "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert "forgot 1 error verdict(s)" in out and "stack_blocks_two  clean" in out and "seeds 100002" in out

    fixed = write_preset(tmp_path, "fixed", log=log)  # same expert protocol, the assets complete now
    before = len(checked(Path(log)))
    third = run_evaluation(spec(fixed, episodes=2), RunOptions(store=store, quiet=True))
    assert [s for _, s, _ in checked(Path(log))[before:]] == [100002], "the genuine rejections are not checked again"
    assert third.prepared_items == 1
    assert [r.seed for r in sorted(third.results, key=lambda r: r.key.episode)] == [100002, 100005]
    now = stored_verdicts(store)
    assert now[100002].accepted and not now[100002].error and len(now) == checked_first
    assert {s: (v.accepted, v.payload.get("reason")) for s, v in now.items() if s != 100002} == {
        s: (v.accepted, v.payload.get("reason")) for s, v in verdicts.items() if s != 100002}


def test_an_imported_seed_whose_info_check_raises_is_checked_once_and_keeps_its_verdict(tmp_path):
    """The info item stays pending after an error (the seed still lacks the expert's info); the
    preparation must not hand it out again in the same run."""
    log = tmp_path / "expert.log"
    preset = write_preset(tmp_path, "imported", log=str(log), error_on=[100001], once=True)
    store = tmp_path / "s.sqlite"
    seed_file = tmp_path / "stack_blocks_two.json"
    seed_file.write_text(json.dumps({"task": "stack_blocks_two", "setting": "clean", "start_seed": 100000,
                                     "seeds": [100001, 100003], "infos": {"100003": {"{A}": "blue block"}}}))
    protocol = ScriptedRoboTwin().expert_protocol(load_preset_file(preset))
    with ResultStore(store) as db:
        seeds.import_seed_lists([(seed_file, entry) for entry in seeds.read_seed_file(seed_file)], db,
                                benchmark="robotwin", protocol=protocol)
    shown = io.StringIO()
    outcome = run_evaluation(spec(preset, episodes=2), RunOptions(store=store), console=Console(file=shown, width=200))
    assert [s for _, s, _ in checked(log)] == [100001], "checked once, not again and again"
    (summary,) = [ln for ln in shown.getvalue().splitlines() if ln.startswith("preparation done")]
    # The imported verdict stays: the summary must not count the seed as rejected by an error.
    assert "1 candidate(s) checked, 0 accepted, 0 rejected by the check, 0 rejected by errors" in summary, summary
    assert ("1 check(s) raised on seeds already judged, whose verdicts stay (stack_blocks_two/clean 100001: "
            "FileNotFoundError") in summary
    with ResultStore(store) as db:
        v = db.verdicts("robotwin", "stack_blocks_two", "clean", protocol)[100001]
        rows = {r["episode"]: r for r in db.episode_rows(outcome.run_id)}
    assert v.accepted and v.imported and not v.error and "info" not in v.payload, "the imported verdict is untouched"
    assert rows[0]["end_reason"] == "error"
    assert rows[0]["error"] == "seed 100001 has no expert episode info to phrase the instruction with", \
        "only the missing info, no failed preparation item"
    assert rows[1]["seed"] == 100003 and rows[1]["instruction"] == "stack_blocks_two: blue block"
