"""The results store: one SQLite file in WAL mode, written by the driver alone.

Every finished episode is one transaction, so a crash (even SIGKILL of the driver) loses at most the
episodes that were still running; rerunning the same command skips what is stored. An episode key is
stored at most once per run: a second result for it is refused, except that an `error` row may be
replaced when the user asks to rerun errors. Preparation verdicts (RoboTwin: which seeds the expert
solves) are kept here too, one row per candidate, one transaction per prepared item.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from harness.api.errors import UsageError
from harness.api.types import EndReason, EpisodeKey, EpisodeResult, Verdict
from harness.api.verdicts import VERDICT_ERROR, StoredVerdict  # noqa: F401 - importable from here too
from harness.holder import Holder, pid_alive

# Where results go when no store is named: the command line's `--store` default and the Python API's
# (wam_eval) alike, defined here, below both, so that neither imports the other for it.
DEFAULT_STORE = Path("results") / "wam-eval.sqlite"

SCHEMA_VERSION = 4  # 2: per-candidate preparation verdicts replace seed lists; 3: episodes' drift check;
# 4: a run lock names its holder by boot id and process start time, not by PID alone
# Older schemas this wam-eval brings up to date when it opens them (one function per step).
_MIGRATIONS = {
    # 2 -> 3: the drift columns, after the others (as a fresh store has them); old rows hold NULL:
    # no check was made.
    2: "ALTER TABLE episodes ADD COLUMN drift REAL; ALTER TABLE episodes ADD COLUMN drift_verdict TEXT;",
    # 3 -> 4: locks taken before hold NULL there, and are judged by PID and heartbeat as before.
    3: "ALTER TABLE run_locks ADD COLUMN boot_id TEXT; ALTER TABLE run_locks ADD COLUMN proc_start TEXT;",
}

# A run held by a driver on another machine is taken over once that driver has shown no sign of life
# for this long (a driver on this machine is checked directly: the same process, by PID, boot id and
# start time, is alive or not; harness/holder.py). A live driver refreshes its lock every LOCK_BEAT_S,
# stored episodes or not (see LockKeeper).
LOCK_STALE_S = 600.0
LOCK_BEAT_S = 60.0


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    policy_name TEXT NOT NULL,
    checkpoint_digest TEXT NOT NULL,
    preset_name TEXT NOT NULL,
    preset_hash TEXT NOT NULL,
    preset_json TEXT NOT NULL,
    versions_json TEXT NOT NULL,
    policy_json TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    host TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE TABLE IF NOT EXISTS invocations (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    started_at REAL NOT NULL,
    ended_at REAL,
    host TEXT NOT NULL,
    argv TEXT NOT NULL,
    spec_json TEXT NOT NULL,
    outcome TEXT
);
CREATE TABLE IF NOT EXISTS run_locks (
    run_id TEXT PRIMARY KEY REFERENCES runs(run_id),
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    invocation INTEGER NOT NULL,
    heartbeat_at REAL NOT NULL,
    boot_id TEXT,
    proc_start TEXT
);
CREATE TABLE IF NOT EXISTS planned (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    episode_id TEXT NOT NULL,
    PRIMARY KEY (run_id, episode_id)
);
CREATE TABLE IF NOT EXISTS episodes (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    episode_id TEXT NOT NULL,
    benchmark TEXT NOT NULL,
    suite TEXT NOT NULL,
    task TEXT NOT NULL,
    setting TEXT NOT NULL,
    episode INTEGER NOT NULL,
    success INTEGER NOT NULL,
    steps INTEGER NOT NULL,
    end_reason TEXT NOT NULL,
    error TEXT,
    instruction TEXT,
    seed INTEGER,
    policy_calls INTEGER NOT NULL,
    warmup_steps INTEGER NOT NULL,
    env_ms REAL NOT NULL,
    render_ms REAL NOT NULL,
    policy_ms REAL NOT NULL,
    queue_ms REAL NOT NULL,
    reset_ms REAL NOT NULL,
    total_ms REAL NOT NULL,
    attempts INTEGER NOT NULL,
    worker TEXT,
    node TEXT,
    finished_at REAL NOT NULL,
    extra_json TEXT NOT NULL,
    drift REAL,  -- the env's largest state deviation from the reference after warm-up (LIBERO)
    drift_verdict TEXT,  -- ok | drift | no reference; NULL: the benchmark makes no check
    PRIMARY KEY (run_id, episode_id)
);
-- A run's name for tables and figures (`run --label`); not part of its identity, so renaming a run
-- never splits it.
CREATE TABLE IF NOT EXISTS run_labels (
    run_id TEXT PRIMARY KEY REFERENCES runs(run_id),
    label TEXT NOT NULL
);
-- Preparation verdicts (RoboTwin: whether the scripted expert solves a seed), one per candidate of a
-- (benchmark, task, setting) under a protocol. Workers compute them; the driver stores them.
CREATE TABLE IF NOT EXISTS verdicts (
    benchmark TEXT NOT NULL,
    task TEXT NOT NULL,
    setting TEXT NOT NULL,
    protocol TEXT NOT NULL,
    candidate INTEGER NOT NULL,
    accepted INTEGER NOT NULL,
    payload_json TEXT NOT NULL,
    source TEXT NOT NULL,
    imported INTEGER NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (benchmark, task, setting, protocol, candidate)
);
"""

EPISODE_COLUMNS = (
    "benchmark", "suite", "task", "setting", "episode", "success", "steps", "end_reason", "error",
    "instruction", "seed", "policy_calls", "warmup_steps", "env_ms", "render_ms", "policy_ms", "queue_ms",
    "reset_ms", "total_ms", "attempts", "worker", "node", "drift", "drift_verdict",
)


@dataclass
class RunManifest:
    """What a run is: its identity and everything needed to reproduce or cite it."""

    run_id: str
    identity: str
    benchmark: str
    policy_name: str
    checkpoint_digest: str
    preset_name: str
    preset_hash: str
    preset: dict[str, Any]
    versions: dict[str, str]
    policy: dict[str, Any]
    spec: dict[str, Any]
    host: str
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> "RunManifest":
        return cls(
            run_id=row["run_id"],
            identity=row["identity"],
            benchmark=row["benchmark"],
            policy_name=row["policy_name"],
            checkpoint_digest=row["checkpoint_digest"],
            preset_name=row["preset_name"],
            preset_hash=row["preset_hash"],
            preset=json.loads(row["preset_json"]),
            versions=json.loads(row["versions_json"]),
            policy=json.loads(row["policy_json"]),
            spec=json.loads(row["spec_json"]),
            host=row["host"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            finished_at=row["finished_at"],
        )


class ResultStore:
    """The store. `ResultStore(path)` is the writer (the driver; it creates the file and brings an
    older schema up to date); `ResultStore.open_readonly(path)` is for readers (report, compare,
    export), which must never change the file: not its schema, not its journal mode."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.readonly = False
        if self.path.is_dir():
            raise UsageError(f"results store {self.path} is a directory; give a file path such as {self.path / 'wam-eval.sqlite'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise self._cannot_write(exc) from None
        self._db.row_factory = sqlite3.Row
        try:
            self._refuse_foreign()  # before anything is written: another program's file stays as it was
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a finished episode survives a power cut too, not only a killed process.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._check_schema()  # before creating anything: a store of another version stays as it was
            self._db.executescript(_SCHEMA)
            if self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() is None:
                self._db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        except sqlite3.DatabaseError as exc:
            self._db.close()
            if "readonly" in str(exc) or "read-only" in str(exc):
                raise self._cannot_write(exc) from None
            raise UsageError(f"{self.path} is not a wam-eval results store ({exc}); choose another "
                             "--store path (the file is left as it is)") from None
        except UsageError:
            self._db.close()
            raise

    def _cannot_write(self, exc: BaseException) -> UsageError:
        folder = self.path.parent
        where = (f"its folder {folder} is not writable" if folder.exists() and not os.access(folder, os.W_OK)
                 else "it is not writable")
        return UsageError(f"cannot write the results store {self.path}: {where} ({exc}); give --store a path in a "
                          "folder you can write")

    @classmethod
    def open_readonly(cls, path: str | Path) -> "ResultStore":
        """A store opened for reading only (SQLite mode=ro; immutable=1 where the file or its folder
        cannot be written, as on a read-only mount, where SQLite could not keep its WAL index)."""
        path = Path(path)
        if path.is_dir():
            raise UsageError(f"results store {path} is a directory; give the file `wam-eval run` wrote with --store")
        if not path.is_file():
            raise UsageError(f"no results store at {path}; give the file `wam-eval run` wrote with --store")
        self = cls.__new__(cls)
        self.path, self.readonly = path, True
        writable = os.access(path, os.W_OK) and os.access(path.resolve().parent, os.W_OK)
        uri = f"{path.resolve().as_uri()}?mode=ro" + ("" if writable else "&immutable=1")
        try:
            self._db = sqlite3.connect(uri, uri=True, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise UsageError(f"results store {path} cannot be opened ({exc})") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._check_readable()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise UsageError(f"{path} cannot be read as a wam-eval results store ({exc}); give the file "
                             "`wam-eval run` wrote with --store (a damaged store: restore it from a copy)") from None
        except UsageError:
            self._db.close()
            raise
        return self

    def _tables(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}

    def _refuse_foreign(self) -> None:
        tables = self._tables()
        if tables and "meta" not in tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise UsageError(f"{self.path} is an SQLite file of another program (tables {shown}), not a wam-eval "
                             "results store; wam-eval leaves it as it is: give --store another path")

    def _check_readable(self) -> None:
        """What a reader needs: wam-eval's tables, at this schema or an older one whose rows it reads
        (an older store is only brought up to date by a writer)."""
        tables = self._tables()
        missing = {"meta", "runs", "episodes", "invocations", "planned"} - tables
        if missing:
            raise UsageError(f"{self.path} is not a wam-eval results store (it has no {', '.join(sorted(missing))} "
                             "table); give the file `wam-eval run` wrote with --store")
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row["value"]) if row is not None else None
        if version is None or not (version == SCHEMA_VERSION or version in _MIGRATIONS):
            raise UsageError(f"{self.path} has store schema {version}, this wam-eval reads {min(_MIGRATIONS)} to "
                             f"{SCHEMA_VERSION}; read it with the wam-eval that wrote it")
        # A damaged page is one line now rather than a traceback halfway through a report.
        (verdict,) = self._db.execute("PRAGMA quick_check(1)").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"damaged: {verdict}")

    def _check_schema(self) -> None:
        has_meta = self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
        row = self._db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() if has_meta else None
        version = int(row["value"]) if row is not None else SCHEMA_VERSION
        while version in _MIGRATIONS:
            # executescript commits by itself: the columns and the new version land together.
            self._db.executescript(f"BEGIN IMMEDIATE; {_MIGRATIONS[version]} "
                                   f"UPDATE meta SET value='{version + 1}' WHERE key='schema_version'; COMMIT;")
            version += 1
        if version != SCHEMA_VERSION:
            raise UsageError(
                f"{self.path} has store schema {row['value']}, this wam-eval writes {SCHEMA_VERSION}; "
                "use a new --store path (the old file is left untouched)"
            )

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResultStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs ----------------------------------------------------------------------------------
    def open_run(self, manifest: RunManifest, *, argv: Sequence[str] = (), force_unlock: bool = False) -> int:
        """Create the run, or reopen it when its identity matches; returns the invocation row id.
        force_unlock takes the run's lock from whoever holds it (run --force-unlock)."""
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT identity FROM runs WHERE run_id=?", (manifest.run_id,)).fetchone()
            if row is None:
                db.execute(
                    "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
                    (
                        manifest.run_id, manifest.identity, manifest.benchmark, manifest.policy_name,
                        manifest.checkpoint_digest, manifest.preset_name, manifest.preset_hash,
                        json.dumps(manifest.preset, sort_keys=True), json.dumps(manifest.versions, sort_keys=True),
                        json.dumps(manifest.policy, sort_keys=True), json.dumps(manifest.spec, sort_keys=True),
                        manifest.host, manifest.created_at, now,
                    ),
                )
            elif row["identity"] != manifest.identity:
                raise UsageError(
                    f"run {manifest.run_id} in {self.path} has another identity; refusing to mix episodes"
                )
            else:
                db.execute(
                    "UPDATE runs SET updated_at=?, spec_json=?, finished_at=NULL WHERE run_id=?",
                    (now, json.dumps(manifest.spec, sort_keys=True), manifest.run_id),
                )
            self._check_lock(db, manifest.run_id, now, force=force_unlock)
            cur = db.execute(
                "INSERT INTO invocations VALUES (?,?,NULL,?,?,?,NULL)",
                (manifest.run_id, now, manifest.host, json.dumps(list(argv)), json.dumps(manifest.spec, sort_keys=True)),
            )
            invocation = int(cur.lastrowid)
            me = Holder.me()
            db.execute("INSERT OR REPLACE INTO run_locks (run_id, host, pid, invocation, heartbeat_at, boot_id, "
                       "proc_start) VALUES (?,?,?,?,?,?,?)",
                       (manifest.run_id, socket.gethostname(), me.pid, invocation, now, me.boot_id, me.started))
            return invocation

    @staticmethod
    def _check_lock(db: sqlite3.Connection, run_id: str, now: float, *, force: bool = False) -> None:
        """Two drivers on one run would both run every missing episode; refuse the second. A lock
        whose holder is gone (exited, or of a boot before this one) or silent for LOCK_STALE_S is
        stale: the run is taken over, and the gone driver's invocation is closed as abandoned."""
        lock = db.execute("SELECT * FROM run_locks WHERE run_id=?", (run_id,)).fetchone()
        if lock is None:
            return
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lock["heartbeat_at"]))
        silent = now - lock["heartbeat_at"] >= LOCK_STALE_S
        held = False
        if not force:
            if lock["host"] == socket.gethostname():
                holder = Holder(int(lock["pid"]), lock["boot_id"] or "", lock["proc_start"] or "")
                alive = holder.alive()
                if alive is None:  # a lock without a verifiable holder: its PID and its heartbeat decide
                    alive = pid_alive(holder.pid) and not silent
                held = alive and holder.pid != os.getpid()
                who = f"on this machine by process {lock['pid']}"
            else:
                held = not silent
                who = f"on host {lock['host']}"
            if held:
                stale_hint = ("; it has shown no sign of life since then, so it may be stopped: if you are sure no "
                              "driver runs it, `run --force-unlock` takes it over" if silent else
                              "; if you are sure no driver runs it, `run --force-unlock` takes it over")
                raise UsageError(f"run {run_id} is already being run {who} (alive at {since}); wait for it to "
                                 f"finish or stop it, then run this again{stale_hint}")
        outcome = "lock taken by --force-unlock" if force else "abandoned: its driver is gone"
        db.execute("UPDATE invocations SET ended_at=?, outcome=? WHERE rowid=? AND ended_at IS NULL",
                   (now, outcome, lock["invocation"]))
        db.execute("DELETE FROM run_locks WHERE run_id=?", (run_id,))

    def keep_lock(self, invocation: int, *, every_s: float = LOCK_BEAT_S) -> "LockKeeper":
        """A context that keeps this invocation's run lock fresh until it exits."""
        return LockKeeper(self.path, invocation, every_s=every_s)

    def close_invocation(self, invocation: int, outcome: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE invocations SET ended_at=?, outcome=? WHERE rowid=?", (time.time(), outcome, invocation))
            db.execute("DELETE FROM run_locks WHERE invocation=?", (invocation,))

    def finish_run(self, run_id: str) -> None:
        now = time.time()
        with self._tx() as db:
            db.execute("UPDATE runs SET finished_at=?, updated_at=? WHERE run_id=?", (now, now, run_id))

    def runs(self) -> list[RunManifest]:
        rows = self._db.execute("SELECT * FROM runs ORDER BY created_at").fetchall()
        return [RunManifest.from_row(r) for r in rows]

    def get_run(self, run_id: str) -> RunManifest:
        row = self._db.execute("SELECT * FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            # Accept a unique prefix, as users copy short ids from the run summary. Compared as the
            # exact leading substring: LIKE would take `_` and `%` in an id as wildcards and ignore case.
            rows = []
            if run_id:
                sql = "SELECT * FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY run_id"
                rows = self._db.execute(sql, (len(run_id), run_id)).fetchall()
            if len(rows) == 1:
                return RunManifest.from_row(rows[0])
            if len(rows) > 1:
                candidates = ", ".join(r["run_id"] for r in rows)
                raise UsageError(
                    f"run id prefix {run_id!r} is ambiguous in {self.path}: {len(rows)} runs start with it "
                    f"({candidates}); give more of the id"
                )
            known = ", ".join(r.run_id for r in self.runs()) or "none"
            raise UsageError(f"no run {run_id!r} in {self.path}; stored runs: {known}")
        return RunManifest.from_row(row)

    def _has_table(self, name: str) -> bool:
        # A store written by an older wam-eval and opened only to read may lack a table added since.
        sql = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
        return self._db.execute(sql, (name,)).fetchone() is not None

    def set_label(self, run_id: str, label: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO run_labels VALUES (?,?)", (run_id, label))

    def labels(self) -> dict[str, str]:
        """run id -> the label given with `run --label`."""
        if not self._has_table("run_labels"):
            return {}
        return {r["run_id"]: r["label"] for r in self._db.execute("SELECT run_id, label FROM run_labels")}

    def run_overview(self) -> list[dict[str, Any]]:
        """One row per run, oldest first: its record, label, how many episodes it planned and stored,
        their successes and errors, and when it last stored anything."""
        labels = self.labels()
        counts = {
            r["run_id"]: dict(r)
            for r in self._db.execute(
                "SELECT run_id, COUNT(*) AS stored, SUM(success) AS successes, "
                "SUM(end_reason='error') AS errors FROM episodes GROUP BY run_id"
            )
        }
        planned = {r[0]: r[1] for r in self._db.execute("SELECT run_id, COUNT(*) FROM planned GROUP BY run_id")}
        out = []
        for m in self.runs():
            c = counts.get(m.run_id, {})
            out.append({
                "manifest": m,
                "label": labels.get(m.run_id),
                "planned": planned.get(m.run_id, 0),
                "stored": int(c.get("stored") or 0),
                "successes": int(c.get("successes") or 0),
                "errors": int(c.get("errors") or 0),
            })
        return out

    def invocations(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT rowid AS id, * FROM invocations WHERE run_id=? ORDER BY started_at", (run_id,))
        return [dict(r) for r in rows]

    # -- plan ----------------------------------------------------------------------------------
    def add_planned(self, run_id: str, keys: Iterable[EpisodeKey]) -> None:
        with self._tx() as db:
            db.executemany("INSERT OR IGNORE INTO planned VALUES (?,?)", ((run_id, k.id) for k in keys))

    def planned_ids(self, run_id: str) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT episode_id FROM planned WHERE run_id=?", (run_id,))}

    # -- episodes ------------------------------------------------------------------------------
    def stored_ids(self, run_id: str, *, errors: bool | None = None) -> set[str]:
        """Episode ids stored for the run; errors=True only error rows, False only non-error rows."""
        sql = "SELECT episode_id FROM episodes WHERE run_id=?"
        if errors is True:
            sql += " AND end_reason='error'"
        elif errors is False:
            sql += " AND end_reason!='error'"
        return {r[0] for r in self._db.execute(sql, (run_id,))}

    def put_episode(self, run_id: str, result: EpisodeResult) -> bool:
        """Store one result in its own transaction. Returns False when the key already holds a
        non-error result (the new one is dropped: an episode is stored once)."""
        row = result.as_row()
        columns = ("run_id", "episode_id", *EPISODE_COLUMNS, "finished_at", "extra_json")
        values = [run_id, result.key.id] + [row[c] for c in EPISODE_COLUMNS] + [time.time(), json.dumps(result.extra, default=str)]
        values[EPISODE_COLUMNS.index("success") + 2] = int(bool(result.success))
        placeholders = ",".join("?" * len(values))
        into = ", ".join(columns)
        with self._tx() as db:
            existing = db.execute(
                "SELECT end_reason FROM episodes WHERE run_id=? AND episode_id=?", (run_id, result.key.id)
            ).fetchone()
            if existing is not None:
                if existing["end_reason"] != EndReason.ERROR.value:
                    return False
                db.execute("DELETE FROM episodes WHERE run_id=? AND episode_id=?", (run_id, result.key.id))
            db.execute(f"INSERT INTO episodes ({into}) VALUES ({placeholders})", values)
            now = time.time()
            db.execute("UPDATE runs SET updated_at=? WHERE run_id=?", (now, run_id))
        return True

    def episode_rows(self, run_id: str) -> list[dict[str, Any]]:
        rows = self._db.execute("SELECT * FROM episodes WHERE run_id=? ORDER BY suite, task, setting, episode", (run_id,))
        out = []
        for r in rows:
            d = dict(r)
            d["success"] = bool(d["success"])
            d["extra"] = json.loads(d.pop("extra_json"))
            out.append(d)
        return out

    def episodes_frame(self, run_id: str):
        import pandas as pd

        rows = self.episode_rows(run_id)
        columns = ["run_id", "episode_id", *EPISODE_COLUMNS, "finished_at", "extra"]
        return pd.DataFrame(rows, columns=columns)

    def export(self, run_id: str, path: str | Path) -> Path:
        """Write the run's episodes as CSV or parquet, chosen by the file suffix."""
        path = Path(path)
        frame = self.episodes_frame(run_id)
        frame["extra"] = frame["extra"].map(lambda e: json.dumps(e, default=str))
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".csv":
            frame.to_csv(path, index=False)
        elif path.suffix == ".parquet":
            try:
                frame.to_parquet(path, index=False)
            except ImportError as exc:
                raise UsageError(f"parquet export needs pyarrow ({exc}); pip install pyarrow, or export to .csv") from None
        else:
            raise UsageError(f"export path {path} must end in .csv or .parquet")
        return path

    # -- preparation verdicts -------------------------------------------------------------------
    # A stored verdict never changes: a second check of the same candidate (work that ran twice)
    # only adds payload facts the first lacked (an imported seed gains the expert's episode info).
    # Two exceptions. Imported verdicts (lists computed elsewhere) replace whatever was stored: the
    # user vouches. An error verdict (payload VERDICT_ERROR: the check raised, so it says nothing
    # about the candidate) is replaced by the next check of that candidate, and a later error never
    # marks, nor adds to, a verdict that is not one.

    def put_verdicts(self, benchmark: str, task: str, setting: str, protocol: str, verdicts: Iterable[Verdict], *,
                     source: str, imported: bool = False) -> int:
        """Store verdicts in one transaction; returns how many candidates got a verdict they lacked."""
        now = time.time()
        added = 0
        with self._tx() as db:
            for v in verdicts:
                where = (benchmark, task, setting, protocol, int(v.candidate))
                payload = dict(v.payload)
                row = db.execute(
                    "SELECT payload_json FROM verdicts WHERE benchmark=? AND task=? AND setting=? AND protocol=? "
                    "AND candidate=?", where,
                ).fetchone()
                stored = json.loads(row["payload_json"]) if row is not None else None
                if stored is None or imported or stored.get(VERDICT_ERROR):
                    added += row is None
                    db.execute("INSERT OR REPLACE INTO verdicts VALUES (?,?,?,?,?,?,?,?,?,?)",
                               (*where, int(bool(v.accepted)), json.dumps(payload, sort_keys=True, default=str),
                                source, int(imported), now))
                elif not payload.get(VERDICT_ERROR):
                    merged = {**payload, **stored}
                    db.execute("UPDATE verdicts SET payload_json=? WHERE benchmark=? AND task=? AND setting=? "
                               "AND protocol=? AND candidate=?", (json.dumps(merged, sort_keys=True, default=str), *where))
        return added

    def runs_with_episodes(self, benchmark: str, task: str, setting: str) -> list[str]:
        """The runs that have stored episodes of this task and setting."""
        rows = self._db.execute("SELECT DISTINCT run_id FROM episodes WHERE benchmark=? AND task=? AND setting=? "
                                "ORDER BY run_id", (benchmark, task, setting))
        return [r["run_id"] for r in rows]

    def forget_error_verdicts(self, benchmark: str, *, task: str | None = None,
                              protocol: str | None = None) -> list[tuple[str, str, str, StoredVerdict]]:
        """Delete the error verdicts (of one task, one protocol) in one transaction, so that the next
        preparation checks those candidates again; the deleted ones come back as
        (task, setting, protocol, StoredVerdict)."""
        sql = f"SELECT * FROM verdicts WHERE benchmark=? AND {_ERROR_SQL}"
        args: list[Any] = [benchmark]
        for column, value in (("task", task), ("protocol", protocol)):
            if value is not None:
                sql += f" AND {column}=?"
                args.append(value)
        with self._tx() as db:
            rows = db.execute(sql + " ORDER BY task, setting, protocol, candidate", args).fetchall()
            db.executemany("DELETE FROM verdicts WHERE benchmark=? AND task=? AND setting=? AND protocol=? "
                           "AND candidate=?",
                           [(r["benchmark"], r["task"], r["setting"], r["protocol"], r["candidate"]) for r in rows])
        return [(r["task"], r["setting"], r["protocol"], StoredVerdict.from_row(r)) for r in rows]

    def verdicts(self, benchmark: str, task: str, setting: str, protocol: str) -> dict[int, StoredVerdict]:
        rows = self._db.execute(
            "SELECT * FROM verdicts WHERE benchmark=? AND task=? AND setting=? AND protocol=? ORDER BY candidate",
            (benchmark, task, setting, protocol),
        )
        return {r["candidate"]: StoredVerdict.from_row(r) for r in rows}

    def verdict_groups(self, benchmark: str | None = None, task: str | None = None) -> list[dict[str, Any]]:
        """One summary per (benchmark, task, setting, protocol): how many candidates were checked,
        accepted, imported and rejected by an error, their range, and when the last verdict came."""
        sql = ("SELECT benchmark, task, setting, protocol, COUNT(*) AS checked, SUM(accepted) AS accepted, "
               f"SUM(imported) AS imported, SUM({_ERROR_SQL}) AS errors, "
               "MIN(candidate) AS first, MAX(candidate) AS last, "
               "MAX(created_at) AS updated_at FROM verdicts")
        where, args = [], []
        for column, value in (("benchmark", benchmark), ("task", task)):
            if value is not None:
                where.append(f"{column}=?")
                args.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " GROUP BY benchmark, task, setting, protocol ORDER BY benchmark, task, setting, protocol"
        return [dict(r) for r in self._db.execute(sql, args)]


# Payload key of an error verdict, holding what raised ("FileNotFoundError: ..."): the check could not
# decide, so the candidate counts as rejected until it is checked again (put_verdicts, forget_error_verdicts).
_ERROR_SQL = f"COALESCE(json_extract(payload_json, '$.{VERDICT_ERROR}'), '') != ''"  # as StoredVerdict.error


class LockKeeper:
    """Refreshes a run lock's heartbeat from a thread of its own while the driver waits on long work
    (a RoboTwin seed validation, an episode longer than LOCK_STALE_S), so that a driver on another
    host never takes over a run whose driver is alive. Its own connection: SQLite connections stay
    in the thread that made them."""

    def __init__(self, path: Path, invocation: int, *, every_s: float):
        self._path, self._invocation, self._every_s = path, invocation, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="wam-eval-lock", daemon=True)

    def _beat(self) -> None:
        db = sqlite3.connect(str(self._path), timeout=30.0, isolation_level=None)
        try:
            while not self._stop.wait(self._every_s):
                try:
                    db.execute("UPDATE run_locks SET heartbeat_at=? WHERE invocation=?", (time.time(), self._invocation))
                except sqlite3.Error:
                    pass  # the store is busy: the next beat tries again, long before the lock goes stale
        finally:
            db.close()

    def __enter__(self) -> "LockKeeper":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10.0)
