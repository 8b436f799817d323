"""`wam-eval run` and `list` end to end on real LIBERO (in-process), and the bad inputs of the CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.driver import RunOptions, run_evaluation
from harness.spec import EvalSpec
from harness.store import ResultStore

POLICIES = "tests.policies_for_tests"


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True, timeout=timeout)


def spec(preset, policy="noop", episodes=2, **kw) -> EvalSpec:
    return EvalSpec(benchmark="libero", policy=policy, preset=str(preset), suites=("libero_goal",), tasks="3",
                    episodes=episodes, **kw)


def rows(store_path, run_id):
    with ResultStore(store_path) as store:
        return store.episode_rows(run_id)


@pytest.mark.parametrize(
    "policy, message",
    [
        ("WrongDim", "action dimension is 8; this benchmark takes 7"),
        ("NaNActions", "NaN or inf (first at step 2, dim 1)"),
        ("WrongHorizon", "action chunk has 9 steps; the policy declared horizon 10"),
        ("Raises", "RuntimeError: policy exploded on purpose"),
    ],
)
def test_invalid_policy_output_ends_only_that_episode(policy, message, short_preset, store_path):
    outcome = run_evaluation(
        spec(short_preset, policy=f"{POLICIES}:{policy}", policy_options={"bad_episode": "1"}),
        RunOptions(store=store_path, quiet=True),
    )
    stored = rows(store_path, outcome.run_id)
    assert [r["episode"] for r in stored] == [0, 1]
    good, bad = stored
    assert good["end_reason"] == "horizon" and good["steps"] == 12 and good["error"] is None
    assert bad["end_reason"] == "error" and message in bad["error"]
    assert bad["extra"]["error_source"] == "policy"


def test_resume_skips_stored_episodes_and_a_new_preset_is_a_new_run(short_preset, store_path, tmp_path):
    first = run_evaluation(spec(short_preset, episodes=1), RunOptions(store=store_path, quiet=True))
    assert first.ran == 1
    again = run_evaluation(spec(short_preset, episodes=2), RunOptions(store=store_path, quiet=True))
    assert again.run_id == first.run_id and again.ran == 1, "only the new episode runs"
    assert [r["episode"] for r in rows(store_path, first.run_id)] == [0, 1]
    assert again.manifest.finished_at is not None

    changed = tmp_path / "changed.toml"
    changed.write_text(short_preset.read_text().replace("max_steps_default = 12", "max_steps_default = 8"))
    other = run_evaluation(spec(changed, episodes=1), RunOptions(store=store_path, quiet=True))
    assert other.run_id != first.run_id and other.ran == 1
    assert rows(store_path, other.run_id)[0]["steps"] == 8
    assert len(rows(store_path, first.run_id)) == 2, "the old run is untouched"


def test_rerun_errors_retries_only_errored_episodes(short_preset, store_path, tmp_path):
    fault = tmp_path / "fault-present"
    fault.touch()
    failing = spec(short_preset, policy=f"{POLICIES}:Raises",
                   policy_options={"bad_episode": "1", "fail_while_exists": str(fault)})
    first = run_evaluation(failing, RunOptions(store=store_path, quiet=True))
    assert first.manifest.finished_at is None, "a run with an error row is not complete"
    fault.unlink()  # the fault is gone; the run identity is the same
    plain_rerun = run_evaluation(failing, RunOptions(store=store_path, quiet=True))
    assert plain_rerun.ran == 0, "errored episodes are stored results: only --rerun-errors runs them again"
    retry = run_evaluation(failing, RunOptions(store=store_path, quiet=True, rerun_errors=True))
    assert retry.run_id == first.run_id and [r.key.episode for r in retry.results] == [1]
    assert [r["end_reason"] for r in rows(store_path, first.run_id)] == ["horizon", "horizon"]
    assert retry.manifest.finished_at is not None


def test_what_changes_the_actions_changes_the_run_identity(short_preset, store_path, tmp_path):
    base = run_evaluation(spec(short_preset, policy="random", episodes=1), RunOptions(store=store_path, quiet=True))
    seeded = run_evaluation(spec(short_preset, policy="random", episodes=1, seed=5), RunOptions(store=store_path, quiet=True))
    option = run_evaluation(spec(short_preset, policy="random", episodes=1, policy_options={"horizon": "8"}),
                            RunOptions(store=store_path, quiet=True))
    a = run_evaluation(spec(short_preset, policy=f"{POLICIES}:Scripted", episodes=1, checkpoint=str(tmp_path / "a.pt")),
                       RunOptions(store=store_path, quiet=True))
    b = run_evaluation(spec(short_preset, policy=f"{POLICIES}:Scripted", episodes=1, checkpoint=str(tmp_path / "b.pt")),
                       RunOptions(store=store_path, quiet=True))
    ids = [base.run_id, seeded.run_id, option.run_id, a.run_id, b.run_id]
    assert len(set(ids)) == 5 and all(r.ran == 1 for r in (base, seeded, option, a, b))
    again = run_evaluation(spec(short_preset, policy="random", episodes=1), RunOptions(store=store_path, quiet=True))
    assert again.run_id == base.run_id and again.ran == 0


def test_a_duplicated_suite_or_setting_plans_each_episode_once(short_preset, store_path):
    twice = EvalSpec(benchmark="libero", policy="noop", preset=str(short_preset), suites=("libero_goal", "libero_goal"),
                     tasks="3", episodes=1, settings=("default", "default"))
    outcome = run_evaluation(twice, RunOptions(store=store_path, quiet=True))
    assert len(outcome.planned) == 1 and outcome.ran == 1


def test_an_error_message_with_brackets_is_printed_not_parsed(short_preset, store_path, capsys):
    from rich.console import Console

    outcome = run_evaluation(
        spec(short_preset, policy=f"{POLICIES}:Raises", episodes=1, policy_options={"message": "cannot open [/data/x]"}),
        RunOptions(store=store_path), console=Console(force_terminal=False, width=200),
    )
    assert outcome.ran == 1
    assert "cannot open [/data/x]" in capsys.readouterr().out


def test_cli_run_prints_a_line_per_episode_and_a_summary(short_preset, store_path):
    proc = cli("run", "--suite", "libero_object", "--tasks", "0,1", "--episodes", "1", "--policy", "random",
               "--preset", str(short_preset), "--store", str(store_path))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "preset test-libero-short" in out
    assert out.count("libero/libero_object/") >= 2
    assert "pick_up_the_alphabet_soup_and_place_it_in_the_basket/default/0" in out.replace("\n", "")
    assert "libero_object" in out and "0/2" in out and "2/2" in out  # summary: successes/n, stored/planned


def test_cli_list_shows_tasks_with_instructions_presets_and_policies():
    proc = cli("list", "--benchmark", "libero")
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    for expected in ("libero_spatial = Spatial", "libero_10 = Long", "libero_90 = LIBERO-90",
                     "put the wine bottle on top of the cabinet", "openpi-libero", "lerobot-libero", "noop", "random"):
        assert expected in text


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--suite", "libero_nope"], "unknown libero suite 'libero_nope'"),
        (["--suite", "libero_goal", "--tasks", "10"], "task index 10 is out of range: libero_goal has tasks 0..9"),
        (["--suite", "libero_goal", "--preset", "no-such-preset"], "unknown preset 'no-such-preset'"),
        (["--suite", "libero_goal", "--policy", "no-such-policy"], "unknown policy 'no-such-policy'"),
        (["--suite", "libero_goal", "--tasks", "0", "--episodes", "51"], "--episodes 51 is more than the 50 episodes"),
        (["--suite", "libero_goal", "--episodes", "0"], "--episodes must be at least 1"),
        (["--suite", "libero_goal", "--tasks", "3-1"], "task range '3-1' is reversed; write 1-3"),
        (["--suite", "libero_goal", "--tasks", ""], "--tasks '' names no task"),
        (["--suite", "libero_goal", "--tasks", " , "], "--tasks ' , ' names no task"),
        (["--suite", ","], "argument --suite: expected comma-separated names, got ','"),
        (["--suite", "libero_goal", "--setting", ""], "argument --setting: expected comma-separated names, got ''"),
        (["--benchmark", "nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, needle, store_path):
    full = ["run", "--policy", "noop", "--store", str(store_path), *args]
    # the later --policy wins over the default one above when a test gives its own
    proc = cli(*full)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
    assert not store_path.exists() or rows_count(store_path) == 0


def rows_count(path) -> int:
    import sqlite3

    return sqlite3.connect(path).execute("SELECT COUNT(*) FROM episodes").fetchone()[0]


def test_a_policy_preferring_another_protocol_is_rebuilt_under_it(store_path):
    spec_ = EvalSpec(benchmark="libero", policy=f"{POLICIES}:PrefersItsOwnProtocol", suites=("libero_object",),
                     tasks="0", episodes=1)
    outcome = run_evaluation(spec_, RunOptions(store=store_path, quiet=True))
    assert outcome.manifest.preset_name == "test-fastwam-short"
    (row,) = rows(store_path, outcome.run_id)
    assert row["end_reason"] == "horizon" and row["steps"] == 20 and row["policy_calls"] == 2
