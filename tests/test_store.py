"""The results store on disk: once per key, error rows replaceable, manifests, export, bad paths."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from harness.api.errors import UsageError
from harness.api.types import EndReason, EpisodeKey, EpisodeResult, EpisodeTimings, Verdict
from harness.store import ResultStore, RunManifest


def manifest(run_id="r-1", identity="abc"):
    return RunManifest(
        run_id=run_id, identity=identity, benchmark="libero", policy_name="noop", checkpoint_digest="h10",
        preset_name="openpi-libero", preset_hash="0" * 16, preset={"name": "openpi-libero"},
        versions={"mujoco": "3"}, policy={"name": "noop"}, spec={"episodes": 2}, host="here",
    )


def result(ep, reason=EndReason.HORIZON, success=False):
    return EpisodeResult(
        key=EpisodeKey("libero", "libero_goal", "t", "default", ep), success=success, steps=7, end_reason=reason,
        error="boom" if reason == EndReason.ERROR else None, timings=EpisodeTimings(env_ms=1.0, total_ms=2.0),
        extra={"calls": [{"policy_ms": 1.5}]},
    )


def test_episode_is_stored_once_and_error_rows_can_be_replaced(store_path):
    with ResultStore(store_path) as store:
        store.open_run(manifest())
        assert store.put_episode("r-1", result(0))
        assert not store.put_episode("r-1", result(0, EndReason.SUCCESS, True)), "second result must be refused"
        assert store.put_episode("r-1", result(1, EndReason.ERROR))
        assert store.stored_ids("r-1", errors=True) == {"libero/libero_goal/t/default/1"}
        assert store.put_episode("r-1", result(1, EndReason.SUCCESS, True)), "an error row is replaceable"
        rows = store.episode_rows("r-1")
    assert [(r["episode"], r["end_reason"], r["success"]) for r in rows] == [(0, "horizon", False), (1, "success", True)]
    assert rows[0]["extra"] == {"calls": [{"policy_ms": 1.5}]}
    # and it is really on disk, readable by plain sqlite
    count = sqlite3.connect(store_path).execute("SELECT COUNT(*) FROM episodes").fetchone()[0]
    assert count == 2


def test_run_identity_is_checked_and_prefix_lookup(store_path):
    with ResultStore(store_path) as store:
        store.open_run(manifest())
        store.open_run(manifest())  # same identity: reopened, a second invocation recorded
        assert len(store.invocations("r-1")) == 2
        with pytest.raises(UsageError, match="another identity"):
            store.open_run(manifest(identity="different"))
        assert store.get_run("r-").run_id == "r-1"
        with pytest.raises(UsageError, match="no run 'zzz'.*r-1"):
            store.get_run("zzz")


def test_export_csv_and_parquet_roundtrip(store_path, tmp_path):
    with ResultStore(store_path) as store:
        store.open_run(manifest())
        store.put_episode("r-1", result(0))
        store.put_episode("r-1", result(1, EndReason.SUCCESS, True))
        out = store.export("r-1", tmp_path / "out.csv")
        frame = pd.read_csv(out)
        assert list(frame["episode"]) == [0, 1] and list(frame["success"]) == [False, True]
        parquet = pd.read_parquet(store.export("r-1", tmp_path / "out.parquet"))
        assert list(parquet["episode"]) == [0, 1] and list(parquet["success"]) == [False, True]
        assert list(parquet["episode_id"]) == list(frame["episode_id"])
        assert list(parquet.columns) == list(frame.columns)
        with pytest.raises(UsageError, match="must end in .csv or .parquet"):
            store.export("r-1", tmp_path / "out.txt")


def test_export_command_writes_the_run_and_refuses_bad_input(store_path, tmp_path, capsys):
    from harness.cli import main

    with ResultStore(store_path) as store:
        store.open_run(manifest())
        store.put_episode("r-1", result(0))
        store.put_episode("r-1", result(1, EndReason.SUCCESS, True))
    out = tmp_path / "runs.parquet"
    assert main(["export", "r-", "--out", str(out), "--store", str(store_path)]) == 0
    assert "2 episode(s) of r-1 -> " in capsys.readouterr().out
    assert list(pd.read_parquet(out)["success"]) == [False, True]
    for args, message in [
        (["export", "nope", "--out", str(out), "--store", str(store_path)], "no run 'nope'"),
        (["export", "r-1", "--out", str(tmp_path / "x.json"), "--store", str(store_path)], "must end in .csv or .parquet"),
        (["export", "r-1", "--out", str(out), "--store", str(tmp_path / "missing.sqlite")], "no results store at"),
    ]:
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "missing.sqlite").exists()


def test_bad_store_paths(tmp_path):
    with pytest.raises(UsageError, match="is a directory"):
        ResultStore(tmp_path)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all" * 100)
    with pytest.raises(UsageError, match="not a wam-eval results store"):
        ResultStore(junk)
    assert junk.read_bytes().startswith(b"this is not a database"), "a bad store file must be left untouched"


def test_verdicts_are_stored_once_per_candidate_and_imports_replace_them(store_path):
    where = ("robotwin", "t", "clean", "proto")
    with ResultStore(store_path) as store:
        assert store.verdicts(*where) == {}
        added = store.put_verdicts(*where, [Verdict(5, True, {"info": {"a": "b"}}), Verdict(6, False, {"reason": "no"})],
                                   source="worker-1 on n")
        assert added == 2
        assert store.put_verdicts(*where, [Verdict(5, False, {"reason": "other", "seconds": 2})], source="worker-2") == 0
        stored = store.verdicts(*where)
        assert [(c, v.accepted, v.source) for c, v in stored.items()] == [(5, True, "worker-1 on n"), (6, False, "worker-1 on n")]
        assert stored[5].payload == {"info": {"a": "b"}, "reason": "other", "seconds": 2}, "facts added, verdict kept"
        store.put_verdicts(*where, [Verdict(5, False, {"imported": "f.json"})], source="imported from f.json", imported=True)
        assert not store.verdicts(*where)[5].accepted and store.verdicts(*where)[5].imported
        assert store.verdicts("robotwin", "t", "clean", "another protocol") == {}
        (group,) = store.verdict_groups("robotwin")
        assert (group["task"], group["checked"], group["accepted"], group["imported"], group["first"], group["last"]) == (
            "t", 2, 0, 1, 5, 6)
        assert store.verdict_groups("robotwin", task="u") == []


def test_a_store_of_another_schema_version_is_refused_untouched(store_path):
    import sqlite3

    db = sqlite3.connect(store_path)
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    db.commit()
    db.close()
    with pytest.raises(UsageError, match="has store schema 1, this wam-eval writes 4; use a new --store path"):
        ResultStore(store_path)
    db = sqlite3.connect(store_path)
    assert [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")] == ["meta"], "nothing created"
    db.close()


def _driver_holding_run_r1(store_path):
    """A child process that opens run r-1 (taking its lock) and holds it until killed."""
    import subprocess
    import sys
    import textwrap

    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).resolve().parents[1])!r})
        from harness.store import ResultStore
        from tests.test_store import manifest
        store = ResultStore({str(store_path)!r})
        store.open_run(manifest())
        print("holding", flush=True)
        time.sleep(120)
    """)], stdout=subprocess.PIPE, text=True)
    if holder.stdout.readline().strip() != "holding":
        holder.kill()
        holder.wait()
        raise AssertionError("the child driver did not open run r-1")
    return holder


def test_a_second_driver_on_the_same_run_is_refused_until_the_first_is_gone(store_path):
    holder = _driver_holding_run_r1(store_path)
    try:
        with ResultStore(store_path) as store:
            with pytest.raises(UsageError, match=rf"run r-1 is already being run on this machine by process {holder.pid}"):
                store.open_run(manifest())
    finally:
        holder.kill()
        holder.wait()
    with ResultStore(store_path) as store:  # the holder died without closing: its lock is stale now
        invocation = store.open_run(manifest())
        store.close_invocation(invocation, "complete")
        store.open_run(manifest())  # and a closed invocation released it


def test_a_live_driver_keeps_its_lock_fresh_while_nothing_is_stored(store_path):
    """Another host takes a run over once its lock is LOCK_STALE_S old; a driver busy with one long
    episode (or a seed validation) stores nothing meanwhile, so its lock must beat on its own."""
    import time

    with ResultStore(store_path) as store:
        invocation = store.open_run(manifest())

        def heartbeat() -> float:
            return store._db.execute("SELECT heartbeat_at FROM run_locks WHERE invocation=?", (invocation,)).fetchone()[0]

        opened = heartbeat()
        with store.keep_lock(invocation, every_s=0.05):
            time.sleep(0.5)
            during = heartbeat()
        assert during > opened
        stopped = heartbeat()
        time.sleep(0.3)
        assert heartbeat() == stopped  # the beat ends with the context


# -- stale locks: a holder is its PID, boot id and start time ----------------------------------------


def _lock_as(store_path, **holder) -> None:
    """Rewrite the run's lock as if another process held it (what a driver before a reboot left)."""
    import sqlite3

    db = sqlite3.connect(store_path)
    sets = ", ".join(f"{k}=?" for k in holder)
    db.execute(f"UPDATE run_locks SET {sets} WHERE run_id='r-1'", tuple(holder.values()))
    db.commit()
    db.close()


def _invocation_outcomes(store_path) -> list:
    with ResultStore(store_path) as store:
        return [i["outcome"] for i in store.invocations("r-1")]


def test_a_lock_of_a_boot_before_this_one_is_stale_even_if_its_pid_runs(store_path):
    """After a reboot or a container restart the lock's PID may belong to another live process: the
    boot id (or the start time) says it is not the driver, and the run is taken over."""
    import os

    from harness.holder import Holder, process_start

    with ResultStore(store_path) as store:
        store.open_run(manifest())
    alive = os.getppid()  # a live process that is not us (pytest's parent)
    _lock_as(store_path, pid=alive, boot_id="a-boot-before-this-one", proc_start=process_start(alive))
    with ResultStore(store_path) as store:
        store.open_run(manifest())  # taken over
    assert _invocation_outcomes(store_path)[0] == "abandoned: its driver is gone"
    # The same boot, the same PID, but another start time: the PID was reused.
    _lock_as(store_path, pid=alive, boot_id=Holder.me().boot_id, proc_start="1")
    with ResultStore(store_path) as store:
        store.open_run(manifest())
    # The same boot, PID and start time: that process holds it.
    _lock_as(store_path, pid=alive, boot_id=Holder.me().boot_id, proc_start=process_start(alive))
    with ResultStore(store_path) as store:
        with pytest.raises(UsageError, match=rf"run r-1 is already being run on this machine by process {alive} .*"
                                             r"`run --force-unlock` takes it over"):
            store.open_run(manifest())


def test_a_lock_without_a_verifiable_holder_honours_its_heartbeat(store_path):
    """A lock written before holders had a boot id and start time: a live PID holds it only while
    its heartbeat is fresh, so a PID reused after a reboot never blocks the run for good."""
    import os
    import time

    from harness.store import LOCK_STALE_S

    with ResultStore(store_path) as store:
        store.open_run(manifest())
    alive = os.getppid()
    _lock_as(store_path, pid=alive, boot_id=None, proc_start=None, heartbeat_at=time.time())
    with ResultStore(store_path) as store:
        with pytest.raises(UsageError, match="is already being run on this machine"):
            store.open_run(manifest())
    _lock_as(store_path, heartbeat_at=time.time() - LOCK_STALE_S - 1)
    with ResultStore(store_path) as store:
        store.open_run(manifest())


def test_force_unlock_takes_a_live_drivers_run_and_says_so_in_its_invocation(store_path):
    holder = _driver_holding_run_r1(store_path)
    try:
        with ResultStore(store_path) as store:
            with pytest.raises(UsageError, match="already being run on this machine"):
                store.open_run(manifest())
            mine = store.open_run(manifest(), force_unlock=True)
            lock = store._db.execute("SELECT * FROM run_locks WHERE run_id='r-1'").fetchone()
            assert lock["invocation"] == mine and lock["pid"] == __import__("os").getpid()
            assert lock["boot_id"] and lock["proc_start"]
    finally:
        holder.kill()
        holder.wait()
    assert _invocation_outcomes(store_path)[0] == "lock taken by --force-unlock"
