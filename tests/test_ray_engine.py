"""The Ray engine end to end: a real Ray started by the test (or by the engine), real LIBERO
episodes (a 20-step, one-camera test preset), a real store on disk.

Runtime on the 2-core CI machine: about 4-6 minutes for the file (each Ray start ~5 s, each
worker's first env ~5-10 s, each 20-step episode ~3-6 s).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envs.registry import find_suite, get_benchmark
from harness.cli import main
from harness.store import ResultStore

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PRESET = str(HERE / "data" / "engine-tiny-libero.toml")
SUITE = "libero_object"


def _pythonpath() -> str:
    # The test policies (tests.engine_test_policies) are imported inside Ray actors; the engine
    # passes the driver's PYTHONPATH on to them.
    return os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)


@pytest.fixture(autouse=True)
def _test_policies_importable(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", _pythonpath())


def task_names(*indices: int) -> list[str]:
    suite = find_suite(get_benchmark("libero"), SUITE)
    return [suite.tasks[i].name for i in indices]


def episode_id(task: str, episode: int) -> str:
    return f"libero/{SUITE}/{task}/default/{episode}"


def run_args(store: Path, *args: str) -> list[str]:
    return ["run", "--benchmark", "libero", "--suite", SUITE, "--preset", PRESET, "--store", str(store), *args]


def stored_rows(store: Path) -> list[dict]:
    with ResultStore(store) as s:
        runs = s.runs()
        assert len(runs) == 1, [r.run_id for r in runs]
        return s.episode_rows(runs[0].run_id)


def raw_episode_ids(store: Path) -> list[str]:
    """Every episode row as stored, duplicates included (the table, not the store's API)."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        return [r[0] for r in db.execute("SELECT episode_id FROM episodes")]


@pytest.mark.usefixtures("shared_ray")
def test_two_workers_store_four_episodes_once_with_timings(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    code = main(run_args(store, "--tasks", "0,1", "--episodes", "2", "--policy", "noop", "--workers", "2", "-v"))
    out = capsys.readouterr().out
    assert code == 0, out
    t0, t1 = task_names(0, 1)
    expected = sorted(episode_id(t, e) for t in (t0, t1) for e in (0, 1))
    assert sorted(raw_episode_ids(store)) == expected  # all four, each once
    rows = stored_rows(store)
    for row in rows:
        assert row["end_reason"] in ("horizon", "success"), row["error"]
        assert row["attempts"] == 1
        assert 0 < row["env_ms"] < row["total_ms"]
        assert row["render_ms"] > 0 and row["policy_ms"] > 0 and row["reset_ms"] > 0
        assert row["policy_calls"] >= 1
        assert row["node"].startswith(os.uname().nodename + ":")
    # Both workers took episodes, and each kept to one task (its env was reused, not rebuilt).
    tasks_by_worker: dict[str, set[str]] = {}
    for row in rows:
        tasks_by_worker.setdefault(row["worker"], set()).add(row["task"])
    assert sorted(tasks_by_worker) == ["worker-0", "worker-1"]
    assert all(len(tasks) == 1 for tasks in tasks_by_worker.values()), tasks_by_worker
    assert "local Ray: 2 worker(s) on 1 node(s)" in out
    assert "[4/4]" in out and "episodes 4 planned, 0 already stored, 4 to run" in out
    assert "worker-0 on" in out and "worker-1 on" in out  # -v lines name worker and node


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """One run with every kind of fault, on 2 workers with one retry allowed:
    task 0 episode 0: its worker is SIGKILLed once mid-episode -> retried on a fresh worker;
    task 0 episode 1: the policy raises -> an error row (not retried: the worker is fine);
    task 1 episode 0: its worker dies every time -> an error row after 1 + 1 attempts;
    task 1 episode 1: nothing happens."""
    tmp = tmp_path_factory.mktemp("faults")
    store, markers = tmp / "r.sqlite", tmp / "markers"
    t0, t1 = task_names(0, 1)
    ids = {
        "dies_once": episode_id(t0, 0), "raises": episode_id(t0, 1),
        "always_dies": episode_id(t1, 0), "fine": episode_id(t1, 1),
    }
    args = run_args(
        store, "--tasks", "0,1", "--episodes", "2", "--workers", "2", "--max-retries", "1",
        "--policy", "tests.engine_test_policies:faulty",
        "--policy-option", f"die_on={ids['dies_once']}:1,{ids['always_dies']}:5",
        "--policy-option", f"raise_on={ids['raises']}",
        "--policy-option", f"marker_dir={markers}",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PYTHONPATH", _pythonpath())
        proc = subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=REPO, capture_output=True, text=True,
                              timeout=600, env=dict(os.environ))
    rows = {r["episode_id"]: r for r in stored_rows(store)}
    return {"proc": proc, "rows": rows, "ids": ids, "markers": markers, "store": store}


def _deaths(markers: Path, episode: str) -> int:
    return len(list(markers.glob(episode.replace("/", "__") + ".*")))


def test_run_with_faults_completes_with_every_episode_stored_once(faulty_run):
    proc = faulty_run["proc"]
    # Two episodes end in error rows: the run goes through and says so with exit code 3.
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "2 episode(s) ended in error" in proc.stdout
    assert sorted(raw_episode_ids(faulty_run["store"])) == sorted(faulty_run["ids"].values())


def test_killed_worker_episode_is_retried_on_a_fresh_worker(faulty_run):
    ids, rows = faulty_run["ids"], faulty_run["rows"]
    assert _deaths(faulty_run["markers"], ids["dies_once"]) == 1  # the worker really died once
    row = rows[ids["dies_once"]]
    assert row["end_reason"] == "horizon" and row["error"] is None
    assert row["attempts"] == 2
    assert row["worker"].endswith(".2")  # the replacement actor, second of its slot
    assert row["steps"] == 20  # the whole episode again, from its initial state
    assert "retrying on a fresh worker (attempt 2 of 2)" in faulty_run["proc"].stdout


def test_worker_dying_past_the_retries_is_stored_as_an_error(faulty_run):
    ids, rows = faulty_run["ids"], faulty_run["rows"]
    assert _deaths(faulty_run["markers"], ids["always_dies"]) == 2  # 1 try + 1 retry, then no more
    row = rows[ids["always_dies"]]
    assert row["end_reason"] == "error" and row["attempts"] == 2
    assert row["error"].startswith("worker died 2 time(s) running this episode; last: ActorDiedError")
    assert row["extra"]["error_source"] == "worker"


def test_policy_exception_is_an_error_row_and_the_rest_succeed(faulty_run):
    ids, rows = faulty_run["ids"], faulty_run["rows"]
    row = rows[ids["raises"]]
    assert row["end_reason"] == "error" and row["attempts"] == 1
    assert row["error"] == f"ValueError: test policy refuses episode {ids['raises']}"
    assert row["extra"]["error_source"] == "policy"
    fine = rows[ids["fine"]]
    assert fine["end_reason"] == "horizon" and fine["steps"] == 20 and fine["error"] is None


@pytest.mark.usefixtures("shared_ray")
def test_a_hung_episode_is_stopped_at_its_time_limit_and_the_rest_succeed(tmp_path):
    store = tmp_path / "r.sqlite"
    (task,) = task_names(0)
    hung, fine = episode_id(task, 0), episode_id(task, 1)
    started = time.monotonic()
    code = main(run_args(
        store, "--tasks", "0", "--episodes", "2", "--workers", "2", "--max-retries", "0", "--episode-timeout", "45",
        "--policy", "tests.engine_test_policies:faulty", "--policy-option", f"hang_on={hung}",
    ))
    took = time.monotonic() - started
    assert code == 3  # the hung episode is an error row
    rows = {r["episode_id"]: r for r in stored_rows(store)}
    assert rows[hung]["end_reason"] == "error" and rows[hung]["attempts"] == 1
    assert "no result within the time limit of 45s (--episode-timeout); the worker was killed" in rows[hung]["error"]
    assert rows[fine]["end_reason"] == "horizon" and rows[fine]["error"] is None
    assert took < 45 + 120, took  # stopped at the limit, not waited on for ever


@pytest.mark.usefixtures("shared_ray")
def test_a_shared_policy_stuck_in_one_inference_is_restarted_and_its_episodes_retried(tmp_path, capsys):
    """Killing workers would not help here (every worker waits on the one stuck actor): the driver
    asks the actor how long it has held each late episode's request, and restarts it once one has
    waited past the limit."""
    store, markers = tmp_path / "r.sqlite", tmp_path / "markers"
    (task,) = task_names(0)
    stuck, other = episode_id(task, 0), episode_id(task, 1)
    code = main(run_args(
        store, "--tasks", "0", "--episodes", "2", "--workers", "2", "--max-retries", "1", "--episode-timeout", "30",
        "--policy", "tests.engine_test_policies:faulty", "--policy-placement", "shared",
        "--policy-option", f"hang_on={stuck}:1", "--policy-option", f"marker_dir={markers}",
    ))
    captured = capsys.readouterr()
    out = captured.out + captured.err
    assert code == 0, out
    assert _deaths(markers, stuck) == 1  # it hung once, in the first actor
    assert "the shared policy actor has held a request for over 30s (--episode-timeout); restarting it" in out
    rows = {r["episode_id"]: r for r in stored_rows(store)}
    assert rows[stuck]["end_reason"] == "horizon" and rows[stuck]["error"] is None and rows[stuck]["attempts"] == 2, (rows, out)
    assert rows[stuck]["worker"] == "worker-0" or rows[stuck]["worker"] == "worker-1"  # the worker itself lived on
    assert rows[other]["end_reason"] == "horizon" and rows[other]["error"] is None


def test_driver_sigkilled_mid_run_then_rerun_stores_everything_once(tmp_path):
    store = tmp_path / "r.sqlite"
    cmd = [sys.executable, "-m", "harness.cli",
           *run_args(store, "--tasks", "0,1", "--episodes", "3", "--policy", "noop", "--workers", "2", "-q")]
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    with open(tmp_path / "first.log", "w") as log:
        first = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 400
        stored = 0
        while stored == 0:
            assert first.poll() is None, (tmp_path / "first.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no episode was stored in time"
            time.sleep(0.2)
            if store.exists():
                try:
                    stored = len(raw_episode_ids(store))
                except sqlite3.OperationalError:  # the schema is still being created
                    stored = 0
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    at_kill = len(raw_episode_ids(store))
    assert 1 <= at_kill < 6, at_kill  # killed mid-run

    # The same command again, right away (the killed driver's Ray processes may still be exiting).
    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"episodes 6 planned, {at_kill} already stored, {6 - at_kill} to run" in second.stdout
    t0, t1 = task_names(0, 1)
    assert sorted(raw_episode_ids(store)) == sorted(episode_id(t, e) for t in (t0, t1) for e in range(3))
    with ResultStore(store) as s:
        run = s.runs()[0]
        invocations = s.invocations(run.run_id)
        rows = s.episode_rows(run.run_id)
    # The killed driver never closed its invocation; the rerun, taking over its stale lock, closes it.
    assert [i["outcome"] for i in invocations] == ["abandoned: its driver is gone", "complete"]
    assert run.finished_at is not None
    rerun_rows = [r for r in rows if r["finished_at"] >= invocations[1]["started_at"]]
    assert len(rerun_rows) == 6 - at_kill  # the rerun ran only what was missing
    assert all(r["end_reason"] != "error" for r in rows)


def test_two_node_cluster_runs_episodes_on_both_nodes(tmp_path, capsys):
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes()
        node_ids = {node.node_id[:8] for node in cluster.list_all_nodes()}
        assert len(node_ids) == 2
        store = tmp_path / "r.sqlite"
        # No --workers: one per CPU of the cluster joined, here one per node.
        code = main(run_args(store, "--tasks", "0,1", "--episodes", "1", "--policy", "noop", "--address", cluster.address))
        out = capsys.readouterr().out
        assert code == 0, out
    finally:
        cluster.shutdown()
    assert "Ray cluster: 2 worker(s) on 2 node(s)" in out
    rows = stored_rows(store)
    assert len(rows) == 2 and all(r["end_reason"] != "error" for r in rows)
    assert {r["node"].rsplit(":", 1)[1] for r in rows} == node_ids


@pytest.mark.usefixtures("shared_ray")
def test_shared_policy_actor_batches_requests_from_both_workers(tmp_path):
    store, record = tmp_path / "r.sqlite", tmp_path / "batches.jsonl"
    # One task, two episodes: both workers build the same env at the same time, so their requests
    # overlap; a long window lets the second join the first's batch.
    code = main(run_args(
        store, "--tasks", "0", "--episodes", "2", "--workers", "2", "--policy", "tests.engine_test_policies:recording",
        "--policy-option", f"record={record}", "--policy-placement", "shared", "--batch-wait-ms", "3000",
    ))
    assert code == 0
    batches = [json.loads(line) for line in record.read_text().splitlines()]
    assert all(1 <= b["size"] <= 2 for b in batches)
    pairs = [b for b in batches if b["size"] == 2]
    assert pairs, batches
    assert all(len(set(b["episodes"])) == 2 for b in pairs)  # one observation from each episode
    rows = stored_rows(store)
    assert len(rows) == 2 and all(r["end_reason"] == "horizon" for r in rows)
    assert {r["worker"] for r in rows} == {"worker-0", "worker-1"}
    for row in rows:
        assert row["queue_ms"] > 0 and row["policy_ms"] > 0
        calls = row["extra"]["calls"]
        assert len(calls) == row["policy_calls"] and all("batch_wait_ms" in c for c in calls)
        # queue time is the round trip minus inference, so it holds the batch wait
        assert row["queue_ms"] >= sum(c["batch_wait_ms"] for c in calls) * 0.99


def test_workers_zero_runs_in_process_without_ray(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    assert main(run_args(store, "--tasks", "0", "--episodes", "1", "--policy", "noop", "--workers", "0")) == 0
    out = capsys.readouterr().out
    assert not [line for line in out.splitlines() if line.startswith("engine")]  # no Ray line
    rows = stored_rows(store)
    assert [r["worker"] for r in rows] == ["in-process"] and rows[0]["end_reason"] == "horizon"


@pytest.mark.usefixtures("shared_ray")
def test_shared_policy_actor_that_dies_is_restarted_and_the_episode_retried(tmp_path):
    store, markers = tmp_path / "r.sqlite", tmp_path / "markers"
    (task,) = task_names(0)
    target = episode_id(task, 0)
    # The policy runs in the shared actor, so it is that actor's process that dies, once.
    code = main(run_args(
        store, "--tasks", "0", "--episodes", "1", "--workers", "1", "--policy", "tests.engine_test_policies:faulty",
        "--policy-placement", "shared", "--policy-option", f"die_on={target}:1", "--policy-option", f"marker_dir={markers}",
    ))
    assert code == 0
    assert _deaths(markers, target) == 1
    (row,) = stored_rows(store)
    assert row["end_reason"] == "horizon" and row["steps"] == 20 and row["error"] is None
    assert row["attempts"] == 2 and row["worker"] == "worker-0"  # the same worker: only the policy died


@pytest.mark.usefixtures("shared_ray")
def test_workers_run_at_the_drivers_niceness():
    """Ray starts its workers at niceness 15 unless told otherwise: on a machine doing anything else
    an episode then gets a fraction of the CPU it gets in-process, at the same CPU seconds (the
    engine's +9.6% per episode of 2026-12-03; docs/engine.md, "Measured here"). A local Ray runs
    them at the driver's niceness."""
    import ray

    from harness.ray_engine import RayEngineOptions, RayExecutor
    from policies.base import PolicyContext

    executor = RayExecutor("noop", PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 7),
                           RayEngineOptions(workers=1))
    try:
        _name, _node, pid = ray.get(executor.slots[0].actor.ready.remote(), timeout=60)
        assert os.getpriority(os.PRIO_PROCESS, pid) == os.getpriority(os.PRIO_PROCESS, 0)
    finally:
        executor.close()
