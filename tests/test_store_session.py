"""StoreSession on a real store on disk: every way out of a session closes its invocation and frees the
run's lock; the outcome names how it ended."""

from __future__ import annotations

import sqlite3

import pytest

from harness.api.errors import UsageError
from harness.api.types import EndReason
from harness.store import ResultStore
from harness.store_session import StoreSession
from tests.test_store import manifest, result


def keys(n):
    return [result(ep).key for ep in range(n)]


def ended(store_path):
    with ResultStore(store_path) as store:
        (invocation,) = store.invocations("r-1")
        run = store.get_run("r-1")
    locks = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM run_locks").fetchone()[0]
    return invocation["outcome"], run.finished_at is not None, locks


def test_a_session_storing_every_planned_episode_finishes_the_run(store_path):
    with StoreSession(store_path, manifest(), keys(2), argv=("run",), label="mine") as session:
        assert [k.id for k in session.to_run(rerun_errors=False)] == [k.id for k in keys(2)]
        assert session.put(result(0)) and session.put(result(1))
        assert not session.put(result(1)), "the store keeps the first result"
        assert session.to_run(rerun_errors=False) == []
    assert ended(store_path) == ("complete", True, 0)
    with ResultStore(store_path) as store:
        assert store.labels() == {"r-1": "mine"}
        assert store.planned_ids("r-1") == {k.id for k in keys(2)}


def test_an_error_row_finishes_with_errors_and_is_run_again_on_request(store_path):
    with StoreSession(store_path, manifest(), keys(2)) as session:
        session.put(result(0))
        session.put(result(1, EndReason.ERROR))
        assert session.to_run(rerun_errors=False) == []
        assert [k.episode for k in session.to_run(rerun_errors=True)] == [1]
    assert ended(store_path) == ("finished with errors", False, 0)


def test_ctrl_c_closes_as_interrupted_and_an_exception_as_failed(store_path, tmp_path):
    session = StoreSession(store_path, manifest(), keys(1))
    with pytest.raises(KeyboardInterrupt):
        with session:
            raise KeyboardInterrupt
    assert session.interrupted
    assert ended(store_path) == ("interrupted", False, 0)

    other = tmp_path / "other.sqlite"
    failing = StoreSession(other, manifest(), keys(1))
    with pytest.raises(RuntimeError):
        with failing:
            raise RuntimeError("the terminal went away")
    assert not failing.interrupted
    assert ended(other) == ("failed: RuntimeError: the terminal went away", False, 0)


def test_a_second_session_on_a_held_run_is_refused_and_leaves_the_first_open(store_path):
    with StoreSession(store_path, manifest(), keys(1)):
        held = sqlite3.connect(store_path).execute("SELECT pid FROM run_locks").fetchall()
        assert len(held) == 1
        # The same process may reopen its own run (the holder is this PID); another identity may not.
        with pytest.raises(UsageError, match="another identity"):
            with StoreSession(store_path, manifest(identity="different"), keys(1)):
                pass
        with ResultStore(store_path) as store:
            (invocation,) = store.invocations("r-1")
        assert invocation["ended_at"] is None, "the refused session closed nothing of the first"
    assert ended(store_path)[0] == "finished with errors"
