"""One invocation of a run in the store, from opening it to closing it.

Entering opens the store, creates (or reopens) the run and takes its lock (harness/holder.py names the
holder), labels it, records its planned episodes, and starts the lock's heartbeat. Leaving always closes
the invocation: as complete or finished with errors when the block ends, as interrupted on Ctrl-C, as
failed naming the exception otherwise. An invocation never stays open because a step failed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from harness.api.types import EpisodeKey, EpisodeResult
from harness.store import LockKeeper, ResultStore, RunManifest


class StoreSession:
    """`with StoreSession(...) as session:` the driver's one writer's session on one run."""

    def __init__(
        self,
        path: Path,
        manifest: RunManifest,
        planned: Sequence[EpisodeKey],
        *,
        argv: Sequence[str] = (),
        force_unlock: bool = False,
        label: str | None = None,
    ):
        self.manifest = manifest
        self.planned = list(planned)
        self.interrupted = False  # the invocation was closed as interrupted (Ctrl-C inside the session)
        self._path, self._argv, self._force_unlock, self._label = Path(path), tuple(argv), force_unlock, label
        self._store: ResultStore | None = None
        self._invocation: int | None = None  # open while set
        self._keeper: LockKeeper | None = None

    @property
    def store(self) -> ResultStore:
        assert self._store is not None, "the store session is not open"
        return self._store

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    def __enter__(self) -> StoreSession:
        self._store = ResultStore(self._path)
        try:
            self._invocation = self._store.open_run(self.manifest, argv=self._argv, force_unlock=self._force_unlock)
            self._keeper = self._store.keep_lock(self._invocation).__enter__()
            if self._label:
                self._store.set_label(self.run_id, self._label)
            self._store.add_planned(self.run_id, self.planned)
        except BaseException as exc:
            self._end(type(exc), exc)
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._end(exc_type, exc)

    def to_run(self, *, rerun_errors: bool) -> list[EpisodeKey]:
        """The planned episodes not stored yet (with rerun_errors, also those stored as errors)."""
        stored = self.store.stored_ids(self.run_id, errors=False if rerun_errors else None)
        return [k for k in self.planned if k.id not in stored]

    def put(self, result: EpisodeResult) -> bool:
        """Store one episode; False when another driver stored it meanwhile (the first result stays)."""
        return self.store.put_episode(self.run_id, result)

    def finish(self) -> RunManifest:
        """Close the invocation as complete (every planned episode stored without error) or finished
        with errors; a complete run is marked finished. Returns the run as stored."""
        if self._invocation is not None:
            stored_ok = self.store.stored_ids(self.run_id, errors=False)
            complete = all(k.id in stored_ok for k in self.planned)
            self._close("complete" if complete else "finished with errors")
            if complete and self.store.planned_ids(self.run_id) <= stored_ok:
                self.store.finish_run(self.run_id)
        return self.store.get_run(self.run_id)

    def _close(self, outcome: str) -> None:
        assert self._invocation is not None
        self.store.close_invocation(self._invocation, outcome)
        self._invocation = None

    def _end(self, exc_type: type[BaseException] | None, exc: BaseException | None) -> None:
        try:
            if self._invocation is not None:
                if exc_type is None:
                    self.finish()
                elif issubclass(exc_type, KeyboardInterrupt):
                    self._close("interrupted")
                    self.interrupted = True
                else:
                    self._close(f"failed: {exc_type.__name__}: {exc}")
        finally:
            if self._keeper is not None:
                self._keeper.__exit__(None, None, None)
                self._keeper = None
            if self._store is not None:
                self._store.close()
                self._store = None
