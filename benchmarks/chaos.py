"""A chaos run: many short LIBERO episodes on Ray workers while workers are killed every few seconds
and the driver once, then the same command again until the run is complete. Checks what the store
promises: every planned episode stored exactly once, retries counted, no process left behind.

    nice -n 10 python benchmarks/chaos.py [--tasks 10 --episodes 30 --workers 2 --kill-every 6]

Episodes are tiny (10 policy steps, no warm-up, no camera, the no-op policy), so the run measures the
engine's recovery rather than the simulator. Figures go to benchmarks/out/chaos.json and .md.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_common import load_note, machine, write_figures  # noqa: E402

PRESET = """\
name = "chaos-libero"
version = 1
benchmark = "libero"
description = "benchmarks/chaos.py: 10 policy steps, no warm-up, no camera; not a protocol"
source = "benchmarks/chaos.py"
official = false
episodes_per_task = 50
env_seed = 7
warmup_steps = 0
replan_steps = 5
settings = ["default"]
max_steps_default = 10

[render]
cameras = []
height = 64
width = 64
"""

WORKER_TITLE = "ray::SimWorker"  # the process title Ray gives the simulator actors


@dataclass
class Figures:
    planned: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    workers_killed: int = 0
    drivers_killed: int = 0
    episodes_retried: int = 0  # stored episodes that took more than one attempt
    retries: int = 0  # attempts beyond the first, summed
    error_rows_before_rerun: int = 0
    invocations: int = 0
    orphans: int = 0
    orphan_commands: list[str] = field(default_factory=list)
    wall_s: float = 0.0


# -- processes, read from /proc (no psutil in the project's environment) -----------------------------


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, session id) of a live process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None  # a zombie has exited; its parent has not reaped it yet
    return int(fields[1]), int(fields[3])


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def _all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def in_session(session: int) -> list[int]:
    """Live processes of a session: the driver started in a session of its own, and Ray's processes
    (GCS, raylet, workers) inherit it, so what is left in it after the driver is gone is orphaned."""
    return [pid for pid in _all_pids() if (st := _stat(pid)) is not None and st[1] == session]


def workers_of(session: int) -> list[int]:
    return [pid for pid in in_session(session) if _cmdline(pid).startswith(WORKER_TITLE)]


# -- the store, read-only ------------------------------------------------------------------------


def _read(store: Path, sql: str) -> list[tuple]:
    if not store.exists():
        return []
    try:
        db = sqlite3.connect(f"{store.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []  # being created


def stored_count(store: Path) -> int:
    rows = _read(store, "SELECT COUNT(*) FROM episodes")
    return int(rows[0][0]) if rows else 0


# -- the run ---------------------------------------------------------------------------------------


def drive(cmd: list[str], log: Path, figures: Figures, rng: random.Random, *, kill_every: float,
          stored_between: int, kill_driver_at: int | None, store: Path) -> tuple[int | None, list[int]]:
    """One driver, with a worker killed every `kill_every` seconds once `stored_between` more
    episodes are stored (so that a slow machine still makes progress between faults), and the driver
    itself once the store holds kill_driver_at episodes. Returns its exit code (None: killed) and
    its session."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    next_kill, stored_at_kill = time.monotonic() + kill_every, stored_count(store)
    while proc.poll() is None:
        time.sleep(0.5)
        stored = stored_count(store)
        if kill_driver_at is not None and stored >= kill_driver_at:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            figures.drivers_killed += 1
            return None, [proc.pid]
        if time.monotonic() >= next_kill and stored >= stored_at_kill + stored_between:
            workers = workers_of(proc.pid)
            if workers:
                os.kill(rng.choice(workers), signal.SIGKILL)
                figures.workers_killed += 1
                next_kill, stored_at_kill = time.monotonic() + kill_every, stored
    return proc.returncode, [proc.pid]


def reap(sessions: list[int], wait_s: float = 60.0) -> list[str]:
    """Waits for the sessions' processes to exit on their own; returns those still alive after
    wait_s (orphans), then kills them so that the machine is left clean."""
    deadline = time.monotonic() + wait_s
    left: list[int] = []
    while time.monotonic() < deadline:
        left = [pid for s in sessions for pid in in_session(s)]
        if not left:
            return []
        time.sleep(1.0)
    commands = [f"{pid}: {_cmdline(pid)[:120]}" for pid in left]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return commands


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--tasks", type=int, default=10, help="tasks 0..N-1 of the suite")
    parser.add_argument("--episodes", type=int, default=30, help="episodes per task")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=6.0, help="least seconds between worker kills")
    parser.add_argument("--stored-between", type=int, default=2,
                        help="least episodes stored between two worker kills (progress on a slow machine)")
    parser.add_argument("--driver-kill-at", type=float, default=0.4,
                        help="kill the driver once this fraction of the episodes is stored")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="keep the store and log here instead of a temporary folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="wam-chaos-"))
    folder.mkdir(parents=True, exist_ok=True)
    preset, store, log = folder / "chaos-libero.toml", folder / "chaos.sqlite", folder / "chaos.log"
    preset.write_text(PRESET)
    cmd = [sys.executable, "-m", "harness.cli", "run", "--policy", "noop", "--preset", str(preset),
           "--suite", args.suite, "--tasks", f"0-{args.tasks - 1}", "--episodes", str(args.episodes),
           "--workers", str(args.workers), "--max-retries", "3", "--store", str(store), "--quiet"]
    figures = Figures(planned=args.tasks * args.episodes)
    load_before = os.getloadavg()
    started = time.monotonic()
    sessions: list[int] = []

    # 1. Faults from the start; the driver itself is killed once part of the run is stored.
    code, session = drive(cmd, log, figures, rng, kill_every=args.kill_every, stored_between=args.stored_between,
                          kill_driver_at=max(1, int(args.driver_kill_at * figures.planned)), store=store)
    sessions += session
    print(f"driver killed with {stored_count(store)} of {figures.planned} episodes stored", flush=True)
    # 2. The same command again, workers still being killed, until the run is complete; an episode
    # whose every attempt was killed is an error row, which --rerun-errors runs again.
    for attempt in range(6):
        again = cmd + (["--rerun-errors"] if attempt else [])
        if attempt:
            errors_now = _read(store, "SELECT COUNT(*) FROM episodes WHERE end_reason='error'")
            figures.error_rows_before_rerun += int(errors_now[0][0])
        code, session = drive(again, log, figures, rng, kill_every=args.kill_every,
                              stored_between=args.stored_between, kill_driver_at=None, store=store)
        sessions += session
        print(f"rerun {attempt + 1}: exit {code}, {stored_count(store)} stored", flush=True)
        if code == 0:
            break
    figures.wall_s = round(time.monotonic() - started, 1)

    # 3. What the store holds, and what is left running.
    ids = [row[0] for row in _read(store, "SELECT episode_id FROM episodes")]
    planned = {row[0] for row in _read(store, "SELECT episode_id FROM planned")}
    figures.stored = len(set(ids))
    figures.duplicated = len(ids) - len(set(ids))
    figures.lost = len(planned - set(ids)) + max(0, figures.planned - len(planned))
    attempts = [int(row[0]) for row in _read(store, "SELECT attempts FROM episodes")]
    figures.episodes_retried = sum(1 for a in attempts if a > 1)
    figures.retries = sum(a - 1 for a in attempts if a > 1)
    figures.invocations = int(_read(store, "SELECT COUNT(*) FROM invocations")[0][0])
    errors = int(_read(store, "SELECT COUNT(*) FROM episodes WHERE end_reason='error'")[0][0])
    figures.orphan_commands = reap(sessions)
    figures.orphans = len(figures.orphan_commands)
    load_after = os.getloadavg()

    ok = code == 0 and figures.lost == 0 and figures.duplicated == 0 and errors == 0 and figures.orphans == 0
    summary = (f"{figures.planned} episodes planned, {figures.stored} stored; faults injected: "
               f"{figures.workers_killed} workers and {figures.drivers_killed} driver killed; "
               f"{figures.episodes_retried} episodes retried ({figures.retries} retries); lost {figures.lost}, "
               f"duplicated {figures.duplicated}, orphan processes {figures.orphans}; {figures.invocations} "
               f"invocations, {figures.wall_s:.0f} s")
    print(summary)
    for line in figures.orphan_commands:
        print(f"  orphan {line}")
    note = load_note(load_before, load_after, machine()["cores"])
    data = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}, "figures": asdict(figures),
            "passed": ok, "load": note}
    markdown = (f"# Chaos run\n\n{summary}\n\n- passed: {ok}\n- {note}\n- command: `{' '.join(cmd[1:])}`\n")
    json_path, _ = write_figures("chaos", data, markdown)
    print(f"{'PASSED' if ok else 'FAILED'}; figures in {json_path} (store and log in {folder})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
