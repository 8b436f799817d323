"""The CLI explains itself: --version, `runs`, runs read from several stores, a finished run that
starts nothing, smoke policies that refuse what they do not take, help for every flag, one batch
flag name, checkpoints refused before Ray, and output that stays whole when piped.

Runtime: about 40 s (two short real LIBERO episodes in-process; the rest reads stores)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
from rich.console import Console

from harness.cli import build_parser
from harness.cli.cmd_run import print_summary
from harness.driver import RunOutcome
from harness.store import ResultStore
from tests.report_data import libero_keys, libero_preset, make_manifest, result, write_run

# Reports whether the invocation imported Ray or built a policy, then exits with the CLI's code.
PROBE = (
    "import sys; from harness.cli import main; rc = main(sys.argv[1:]); "
    "print('RAY-IMPORTED' if 'ray' in sys.modules else 'NO-RAY'); "
    "print('POLICY-BUILT' if 'policies.baselines' in sys.modules or 'policies.fastwam.policy' in sys.modules "
    "else 'NO-POLICY'); sys.exit(rc)"
)


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}  # as in a plain pipe
    return subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_version_names_the_installed_package():
    proc = cli("--version")
    assert proc.returncode == 0
    assert proc.stdout.splitlines()[0] == f"wam-eval {metadata.version('wam-eval')}"


def two_runs(store: Path) -> tuple[str, str]:
    keys = libero_keys(tasks=1, episodes=4)
    a = write_run(store, make_manifest(libero_preset(), policy="alpha"), keys, lambda k: result(k, k.episode % 2 == 0))
    # b: planned 16, stored 12, one of them an error
    b = write_run(store, make_manifest(libero_preset(), policy="beta", checkpoint="sha256:0123456789ab"), keys,
                  lambda k: None if k.episode == 3 else result(k, True, error=k.episode == 2))
    with ResultStore(store) as s:
        s.set_label(a, "Alpha (ours)")
    return a, b


def test_runs_lists_every_stored_run_within_80_columns_with_the_store_path_whole(tmp_path):
    store = tmp_path / ("a-long-folder-name-that-a-narrow-table-would-wrap-" * 2) / "results.sqlite"
    a, b = two_runs(store)
    proc = cli("runs", "--store", str(store))
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(str(store) in line for line in lines), "the store path is cut across lines"
    table = [line for line in lines if str(store) not in line]  # the title holds the long path
    assert all(len(line) <= 80 for line in table), "\n".join(table)
    text = proc.stdout
    for expected in (a, b, "Alpha (ours)", "openpi-libero", "16/16", "12/16", "partial", "50.0%", "66.7%",
                     "4 errors", "alpha", "beta"):
        assert expected in text, expected
    assert "sha256:01" in text, "the checkpoint digest is shown (cells may wrap)"
    assert any(line.lstrip().startswith(a) for line in lines), "a run id wrapped"


def test_report_compare_and_export_read_runs_from_several_stores(tmp_path):
    first, second = tmp_path / "one.sqlite", tmp_path / "two.sqlite"
    keys = libero_keys(tasks=1, episodes=4)
    a = write_run(first, make_manifest(libero_preset(), policy="alpha"), keys, lambda k: result(k, False))
    b = write_run(second, make_manifest(libero_preset(), policy="beta"), keys, lambda k: result(k, True))
    stores = ["--store", str(first), "--store", str(second)]
    proc = cli("compare", a, b, *stores)
    assert proc.returncode == 0, proc.stderr
    assert "better" in proc.stdout and a in proc.stdout and b in proc.stdout
    table = [line for line in proc.stdout.splitlines() if "│" in line or "━" in line]
    assert table and all(len(line) <= 80 for line in table), "\n".join(table)
    proc = cli("report", "alpha", "beta", *stores, "--out", str(tmp_path / "rep"))
    assert proc.returncode == 0, proc.stderr
    assert b in (tmp_path / "rep" / "report.md").read_text()
    proc = cli("export", "beta", "--out", str(tmp_path / "b.csv"), *stores)
    assert proc.returncode == 0, proc.stderr
    assert len((tmp_path / "b.csv").read_text().splitlines()) == 1 + len(keys)
    proc = cli("export", "gamma", "--out", str(tmp_path / "c.csv"), *stores)
    assert proc.returncode == 2 and "no run 'gamma'" in proc.stderr and str(second) in proc.stderr


def test_a_run_with_nothing_left_to_do_starts_no_ray_and_builds_no_policy(short_preset, store_path):
    base = ["run", "--suite", "libero_goal", "--tasks", "3", "--episodes", "1", "--policy", "noop",
            "--preset", str(short_preset), "--store", str(store_path)]
    first = cli(*base, "--workers", "0", "--label", "No-op floor")
    assert first.returncode == 0, first.stderr
    assert "policy noop horizon 10 (no weights)" in first.stdout  # not "checkpoint h10"
    assert "POLICY-BUILT" in first.stdout
    started = time.monotonic()
    again = cli(*base)  # Ray workers by default: none may start
    took = time.monotonic() - started
    assert again.returncode == 0, again.stderr
    assert "nothing to do: all 1 planned episode(s) are stored already" in again.stdout
    assert "NO-RAY" in again.stdout and "NO-POLICY" in again.stdout
    assert took < 30, f"{took:.1f} s"  # a Ray start plus a LIBERO env alone take longer here
    with ResultStore(store_path) as store:
        (run,) = store.runs()
        assert len(store.invocations(run.run_id)) == 1
        assert run.policy["trained"] is None  # recorded as "no weights", not as trained
        assert store.labels() == {run.run_id: "No-op floor"}


@pytest.mark.parametrize(
    "policy, extra, needle",
    [
        ("noop", ["--policy-option", "horizn=8"], "unknown noop option(s) horizn; known: horizon"),
        ("random", ["--policy-option", "sed=3"], "unknown random option(s) sed; known: horizon"),
        ("random", ["--policy-option", "horizon=0"], "random option horizon=0 must be a whole number"),
    ],
)
def test_smoke_policies_refuse_options_they_do_not_take(policy, extra, needle, short_preset, store_path):
    proc = cli("run", "--suite", "libero_goal", "--tasks", "3", "--episodes", "1", "--policy", policy,
               "--preset", str(short_preset), "--store", str(store_path), "--workers", "0", *extra)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and needle in proc.stderr
    if store_path.exists():
        with ResultStore(store_path) as store:
            assert store.runs() == [], "a typo must not create a run"


@pytest.mark.parametrize("kind", ["missing", "empty", "empty folder"])
def test_an_unusable_checkpoint_is_refused_before_ray_starts(kind, tmp_path, store_path):
    ckpt = tmp_path / "model.pt"
    if kind == "empty":
        ckpt.write_bytes(b"")
    elif kind == "empty folder":
        ckpt.mkdir()
    proc = cli("run", "--suite", "libero_object", "--tasks", "0", "--episodes", "1", "--policy", "fastwam",
               "--checkpoint", str(ckpt), "--store", str(store_path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and f"checkpoint {ckpt}" in proc.stderr
    assert {"missing": "does not exist", "empty": "is empty (0 bytes)", "empty folder": "empty folder"}[kind] in proc.stderr
    assert "NO-RAY" in proc.stdout and "NO-POLICY" in proc.stdout


def test_an_interrupted_run_with_nothing_stored_says_so(tmp_path):
    store_path = tmp_path / "store.sqlite"
    keys = libero_keys(suites=("libero_goal",), tasks=1, episodes=3)
    manifest = make_manifest(libero_preset())
    write_run(store_path, manifest, keys, lambda k: None)
    console = Console(record=True, width=100)
    print_summary(console, RunOutcome(manifest=manifest, planned=keys, ran=0, interrupted=True), store_path)
    text = console.export_text()
    assert "none stored" in text and "0/3 partial" in text
    assert "0/0" not in text and "0.0%" not in text


def flags(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from flags(sub, (*prefix, name))
        elif not isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            yield prefix, action


def test_every_flag_of_every_subcommand_has_help_that_gives_its_default():
    missing = []
    for prefix, action in flags(build_parser()):
        name = " ".join(prefix) + " " + ("/".join(action.option_strings) or action.dest)
        if not action.help:
            missing.append(f"{name}: no help")
        elif action.option_strings and not action.required and "default" not in action.help.lower():
            missing.append(f"{name}: help gives no default ({action.help!r})")
    assert not missing, "\n".join(missing)


def test_the_batch_flag_has_one_name_in_run_and_serve():
    by_command: dict[str, set[str]] = {}
    for prefix, action in flags(build_parser()):
        if prefix and prefix[0] in ("run", "serve"):
            by_command.setdefault(prefix[0], set()).update(o for o in action.option_strings if "batch" in o)
    assert by_command["serve"] == {"--batch-max"}
    assert "--batch-max" in by_command["run"]
