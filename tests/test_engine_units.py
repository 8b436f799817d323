"""The engine's pieces that need no simulator: the task-affine queue, the batching policy server's
logic (driven through its real asyncio code, no Ray) and the CLI's flag and address checks.
Runtime: about 5 s (one test imports LIBERO)."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from harness.api.types import EpisodeKey, Observation
from harness.cli import main
from harness.ray_engine.batching import BatchingPolicyServer
from harness.ray_engine.options import PolicyPlacement, RayEngineOptions
from harness.ray_engine.scheduler import TaskQueue
from policies.base import PolicyContext


def key(task: str, episode: int) -> EpisodeKey:
    return EpisodeKey("libero", "libero_object", task, "default", episode)


def test_queue_keeps_a_worker_on_its_task_and_spreads_new_workers_over_tasks():
    q = TaskQueue([key("a", 0), key("a", 1), key("a", 2), key("b", 0), key("b", 1)])
    first = q.next_for(None, busy=[])
    second = q.next_for(None, busy=[first])
    assert (first.task, second.task) == ("a", "b")  # a fresh worker takes a task nobody is on
    assert q.next_for(first, busy=[second]) == key("a", 1)  # its own task next: the env is reused
    assert q.next_for(second, busy=[key("a", 1)]) == key("b", 1)
    # task b is done: that worker helps on a
    assert q.next_for(key("b", 1), busy=[key("a", 1)]) == key("a", 2)
    assert len(q) == 0 and q.next_for(None, busy=[]) is None


def test_queue_puts_a_returned_key_first():
    q = TaskQueue([key("a", 0), key("a", 1)])
    taken = q.next_for(None, busy=[])
    q.push_front(taken)
    assert q.next_for(None, busy=[]) == taken and len(q) == 1


def test_placement_defaults_follow_the_device():
    assert RayEngineOptions().placement_for("cpu") == PolicyPlacement.WORKER
    assert RayEngineOptions().placement_for("cuda:0") == PolicyPlacement.SHARED
    assert RayEngineOptions(placement=PolicyPlacement.SHARED).placement_for("cpu") == PolicyPlacement.SHARED


def _server(tmp_path, **kw) -> BatchingPolicyServer:
    """The server over the engine tests' policy, in this process (no Ray)."""
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 6 + (-1.0,), action_horizon=4,
                        options={"record": str(tmp_path / "batches.jsonl"), "raise_on": "bad", "slow_on": "slow:1.5"})
    return BatchingPolicyServer("tests.engine_test_policies:recording", ctx, **kw)


def _batches(tmp_path) -> list[list[str]]:
    return [json.loads(line)["episodes"] for line in (tmp_path / "batches.jsonl").read_text().splitlines()]


def _obs(episode: str) -> Observation:
    return Observation(images={}, state=np.zeros(8), instruction="", episode_id=episode)


def test_batch_closes_when_every_worker_has_asked(tmp_path):
    server = _server(tmp_path, batch_max=8, batch_wait_ms=10_000, clients=2)

    async def go():
        return await asyncio.wait_for(asyncio.gather(server.infer(_obs("e1")), server.infer(_obs("e2"))), 5)

    replies = asyncio.run(go())
    assert _batches(tmp_path) == [["e1", "e2"]]  # one batch, long before the 10 s window
    assert [r.batch_size for r in replies] == [2, 2]
    assert all(r.policy_ms >= 0 and r.wait_ms >= 0 for r in replies)
    assert server.batch_sizes() == {2: 1}


def test_lone_request_goes_after_the_wait_window(tmp_path):
    server = _server(tmp_path, batch_max=8, batch_wait_ms=50, clients=4)
    reply = asyncio.run(asyncio.wait_for(server.infer(_obs("e1")), 5))
    assert reply.batch_size == 1 and reply.wait_ms >= 45


def test_one_bad_observation_fails_only_its_own_episode(tmp_path):
    server = _server(tmp_path, batch_max=8, batch_wait_ms=10_000, clients=2)

    async def go():
        return await asyncio.gather(server.infer(_obs("good")), server.infer(_obs("bad")), return_exceptions=True)

    good, bad = asyncio.run(asyncio.wait_for(go(), 5))
    assert isinstance(bad, ValueError) and str(bad) == "test policy refuses episode bad"
    assert good.batch_size == 1 and good.chunk.actions.shape == (4, 7)
    assert _batches(tmp_path) == [["good", "bad"], ["good"], ["bad"]]


@pytest.mark.parametrize("flags, message", [
    (["--workers", "-1"], "--workers must be 0 (in-process) or more"),
    (["--batch-max", "0"], "--batch-max must be at least 1"),
    (["--workers", "0", "--batch-max", "0"], "--batch-max must be at least 1"),
    (["--max-retries", "-1"], "--max-retries must not be negative"),
    (["--episode-timeout", "-5"], "--episode-timeout must be positive seconds"),
    (["--episode-timeout", "nan"], "--episode-timeout must be positive seconds"),
    (["--episode-timeout", "inf"], "--episode-timeout must be positive seconds"),
    (["--batch-wait-ms", "nan"], "--batch-wait-ms must be a finite number"),
    (["--batch-wait-ms", "-5"], "--batch-wait-ms must not be negative"),
    (["--workers", "0", "--address", "auto"], "--address joins a Ray cluster; it needs --workers above 0"),
])
def test_bad_engine_flags_are_one_line_errors(tmp_path, capsys, flags, message):
    store = tmp_path / "r.sqlite"
    code = main(["run", "--policy", "noop", "--store", str(store), *flags])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err
    assert not store.exists()


def test_unreachable_cluster_address_is_a_one_line_error(tmp_path, capsys):
    store = tmp_path / "r.sqlite"
    code = main(["run", "--benchmark", "libero", "--suite", "libero_object", "--tasks", "0", "--episodes", "1",
                 "--policy", "noop", "--store", str(store), "--address", "127.0.0.1:1"])
    err = capsys.readouterr().err
    assert code == 2
    # robosuite may log its banner on import; the error itself is one line, the last
    errors = [line for line in err.splitlines() if line.startswith("wam-eval: error:")]
    assert len(errors) == 1 and errors[0].startswith("wam-eval: error: cannot reach a Ray cluster at 127.0.0.1:1")
    assert err.splitlines()[-1] == errors[0]
    assert not store.exists()


def test_episode_lines_carry_one_line_of_an_error():
    from harness.progress import error_headline

    served = ("the policy server at ws://127.0.0.1:8000 answered with an error:\n"
              "Traceback (most recent call last):\n  File \"x.py\", line 3, in infer\n    raise ValueError('boom')\n"
              "ValueError: boom\n")
    assert error_headline(served) == "the policy server at ws://127.0.0.1:8000 answered with an error: ValueError: boom"
    assert error_headline("Traceback (most recent call last):\n  File \"x.py\"\nKeyError: 'state'") == "KeyError: 'state'"
    assert error_headline("ValueError: test policy refuses episode e") == "ValueError: test policy refuses episode e"
    assert error_headline("first line\nsecond line") == "first line (...)"


def test_a_local_ray_that_cannot_start_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    import ray

    def refuse(*args, **kwargs):
        raise RuntimeError("Failed to start the GCS server.\n  (a long explanation from Ray)\n  more lines")

    monkeypatch.setattr(ray, "init", refuse)
    code = main(["run", "--benchmark", "libero", "--suite", "libero_object", "--tasks", "0", "--episodes", "1",
                 "--policy", "noop", "--store", str(tmp_path / "r.sqlite"), "--workers", "1"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("wam-eval: error:")]
    assert code == 2
    assert errors == ["wam-eval: error: could not start a local Ray (Failed to start the GCS server.); "
                      "`--workers 0` evaluates in-process without Ray"]
    assert err.splitlines()[-1] == errors[0]


def test_the_shared_actor_says_how_long_it_has_held_each_request_while_it_works(tmp_path):
    """What the driver asks to tell an episode late because of the policy (restart the actor once a
    request waits past the limit) from one whose worker is stuck (kill the worker)."""
    server = _server(tmp_path, batch_max=1, batch_wait_ms=0, clients=2)

    async def go():
        assert server.waiting_s() == {}
        slow = asyncio.ensure_future(server.infer(_obs("slow")))
        await asyncio.sleep(0.2)
        queued = asyncio.ensure_future(server.infer(_obs("queued")))  # behind the slow inference
        await asyncio.sleep(0.5)
        during = server.waiting_s()  # the event loop answers while the policy thread works
        await asyncio.wait_for(asyncio.gather(slow, queued), 10)
        return during, server.waiting_s()

    during, after = asyncio.run(go())
    assert sorted(during) == ["queued", "slow"]
    assert 0.6 < during["slow"] < 1.5 and 0.4 < during["queued"] < during["slow"]
    assert after == {}
