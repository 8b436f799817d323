"""Readers only read: report, compare, export and seeds list open the store read-only; files that are
not stores, damaged stores and unwritable places are one line and exit 2, and nothing is changed."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _stored_run(folder: Path, episodes: int = 5) -> tuple[Path, str]:
    """A store with two runs of the same episodes; returns the first's id (the second is "other")."""
    store = folder / "store.sqlite"
    keys = libero_keys(suites=("libero_goal",), tasks=2, episodes=episodes)
    run_id = write_run(store, make_manifest(libero_preset()), keys, lambda k: result(k, k.episode % 2 == 0))
    write_run(store, make_manifest(libero_preset(), policy="other"), keys, lambda k: result(k, k.episode % 3 == 0))
    return store, run_id


def _readers(store: Path, run_id: str, out: Path) -> list[list[str]]:
    return [
        ["report", run_id, "--store", str(store), "--out", str(out / "report")],
        ["compare", run_id, "other", "--store", str(store)],
        ["export", run_id, "--store", str(store), "--out", str(out / "episodes.csv")],
        ["seeds", "list", "--store", str(store)],
    ]


def _one_error_line(capsys) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    return err[0]


def test_readers_leave_another_programs_sqlite_file_byte_identical(tmp_path, capsys):
    other = tmp_path / "notes.db"
    db = sqlite3.connect(other)
    db.executescript("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes VALUES (1, 'mine');")
    db.close()
    before, files = _digest(other), sorted(os.listdir(tmp_path))
    for argv in _readers(other, "any-run", tmp_path):
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert "is not a wam-eval results store (it has no episodes, invocations, meta, planned, runs table)" in line
    # The writer refuses it too, before switching it to WAL or adding a table.
    assert main(["run", "--policy", "noop", "--workers", "0", "--suite", "libero_goal", "--tasks", "0",
                 "--episodes", "1", "--store", str(other)]) == 2
    assert "is an SQLite file of another program (tables notes)" in _one_error_line(capsys)
    assert _digest(other) == before and sorted(os.listdir(tmp_path)) == files
    assert sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_readers_do_not_change_a_store(tmp_path, capsys):
    store, run_id = _stored_run(tmp_path)
    before = _digest(store)
    for argv in _readers(store, run_id, tmp_path):
        assert main(argv) == 0, (argv, capsys.readouterr().err)
    assert _digest(store) == before


def test_a_store_that_cannot_be_written_is_read_as_immutable(tmp_path, capsys, monkeypatch):
    """On a read-only mount SQLite cannot keep a WAL index beside the file; the reader then opens it
    immutable. (os.access stands in for the mount: the tests may run as root, whom modes do not stop.)"""
    store, run_id = _stored_run(tmp_path)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if mode == os.W_OK else real_access(p, mode, **kw))
    opened: list[str] = []
    real_connect = sqlite3.connect

    def connect(target, *args, **kwargs):
        opened.append(str(target))
        return real_connect(target, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    assert main(["export", run_id, "--store", str(store), "--out", str(tmp_path / "e.csv")]) == 0
    assert opened and all(t.endswith("?mode=ro&immutable=1") for t in opened)
    assert len((tmp_path / "e.csv").read_text().splitlines()) == 11  # header + 10 episodes


def test_a_damaged_store_is_one_line(tmp_path, capsys):
    store, run_id = _stored_run(tmp_path, episodes=40)
    with ResultStore(store):
        pass  # checkpointed and closed: every row is in the main file
    data = bytearray(store.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    for offset in range(2 * page, len(data) - page, page):  # every page but the header page and the last
        data[offset:offset + 64] = b"\xff" * 64
    store.write_bytes(bytes(data))
    for argv in _readers(store, run_id, tmp_path):
        assert main(argv) == 2, argv
        line = _one_error_line(capsys)
        assert line.startswith(f"wam-eval: error: {store}") and "cannot be read" in line, line


@pytest.mark.parametrize("content", [b"", b"plain text, not SQLite at all\n" * 10])
def test_an_empty_or_non_sqlite_file_is_one_line(tmp_path, capsys, content):
    path = tmp_path / "x.sqlite"
    path.write_bytes(content)
    assert main(["report", "latest", "--store", str(path)]) == 2
    assert "wam-eval results store" in _one_error_line(capsys)
    assert path.read_bytes() == content


def test_a_new_store_where_nothing_can_be_written_is_one_line(tmp_path, capsys):
    # sysfs refuses new files to everyone, root included.
    for store in ("/sys/wam-eval-test/store.sqlite", "/sys/wam-eval-test.sqlite"):
        code = main(["run", "--policy", "noop", "--workers", "0", "--suite", "libero_goal", "--tasks", "0",
                     "--episodes", "1", "--store", store])
        assert code == 2
        assert f"cannot write the results store {store}" in _one_error_line(capsys)


def test_preset_that_is_a_directory_or_not_utf8_is_one_line(tmp_path, capsys):
    folder = tmp_path / "folder.toml"
    folder.mkdir()
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    for path, message in ((folder, "is a directory"), (latin, "is not UTF-8 text")):
        assert main(["presets", "show", str(path)]) == 2
        assert message in _one_error_line(capsys)
        assert main(["run", "--policy", "noop", "--workers", "0", "--preset", str(path),
                     "--store", str(tmp_path / "s.sqlite")]) == 2
        assert message in _one_error_line(capsys)
    assert not (tmp_path / "s.sqlite").exists()
