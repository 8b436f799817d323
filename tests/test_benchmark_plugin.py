"""Adding a benchmark touches only its own package (docs/architecture.md, "Adding a benchmark"): a
toy benchmark (tests/toy_benchmark.py, its preset in tests/data/) registered with one registry entry
shows up in `list`, runs, and its report draws the table it declares, in its own task order; baseline
rows are checked against its columns; its own subcommand joins `wam-eval`. Plug-ins' commands are
collected without importing torch or SAPIEN."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from envs.registry import BENCHMARKS
from harness.api.errors import UsageError
from harness.cli import main
from harness.reporting import load_baseline_file


@pytest.fixture
def toy_registered(monkeypatch):
    # The one line a new benchmark adds to envs/registry.py.
    monkeypatch.setitem(BENCHMARKS, "toy", "tests.toy_benchmark:ToyBenchmark")


def test_a_registered_benchmark_is_listed(toy_registered, capsys):
    assert main(["list", "--benchmark", "toy"]) == 0
    out = capsys.readouterr().out
    assert "toy  action dim 2 (under toy-test)" in out
    assert "toy_easy = Easy: 2 tasks" in out and '0  stack  "stack the block"' in out


def test_its_run_is_reported_in_the_table_it_declares(toy_registered, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["run", "--benchmark", "toy", "--policy", "noop", "--workers", "0", "--store", str(store)]) == 0
    assert main(["report", "latest", "--store", str(store), "--out", str(tmp_path / "rep")]) == 0
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "Table 9 (Toy)" in md
    assert "| Method | Emb. pretraining | Easy | Hard | Average | Protocol |" in md
    # Easy tasks succeed, hard ones never: 100% and 0%, the Average the mean of the two columns.
    row = next(line for line in md.splitlines() if line.startswith("| **noop-toy"))
    assert re.search(r"\| 100\.0 \[[^|]*n=4 \| 0\.0 \[[^|]*n=4 \| 50\.0 \[", row), row
    assert "Each suite column is the mean over tasks (20 trials per task in the paper)" in md
    # Tasks in the benchmark's own order (stack is task 0, reach task 1), not by name.
    assert md.index("| stack ") < md.index("| reach ")


def test_baseline_rows_are_checked_against_its_columns(toy_registered, tmp_path):
    bad = tmp_path / "toy.toml"
    bad.write_text(
        '[source]\nid = "t"\ntitle = "t"\n[[result]]\nbenchmark = "toy"\nmethod = "m"\nprotocol = "toy-test"\n'
        "success = { toy_medium = 50.0 }\n"
    )
    with pytest.raises(UsageError, match=r"toy_medium are not in the toy table \(toy_easy, toy_hard\)"):
        load_baseline_file(bad)


def test_its_subcommand_joins_wam_eval(toy_registered, tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    assert main(["run", "--benchmark", "toy", "--policy", "noop", "--workers", "0", "--store", str(store)]) == 0
    capsys.readouterr()
    assert main(["toy-count", "--suite", "toy_hard", "--store", str(store)]) == 0
    assert capsys.readouterr().out.strip() == "toy_hard: 2 tasks, 0 verdict group(s)"
    # The store is lent read-only: a mistyped path is refused, never created.
    assert main(["toy-count", "--store", str(tmp_path / "typo.sqlite")]) == 2
    assert not (tmp_path / "typo.sqlite").exists()


def test_plugin_commands_are_collected_without_torch_or_sapien():
    probe = (
        "import sys\n"
        "from harness.cli import build_parser\n"
        "sub = next(a for a in build_parser()._actions if a.dest == 'command')\n"
        "print(' '.join(sub.choices))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'sapien', 'mplib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    commands, heavy = out.stdout.splitlines()
    assert {"seeds", "setup", "latency"} <= set(commands.split())
    assert heavy == "[]"
