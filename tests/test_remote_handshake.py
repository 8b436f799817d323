"""A remote policy's handshake is read before any executor is built (harness/run_plan.py): the run
builds one executor under the protocol the server names, a finished run says "nothing to do" without
building any, and an unreachable server is one line, exit 2, before anything starts. Real servers on
loopback (`wam-eval serve`, openpi's own), real LIBERO episodes (one 20-step episode per run)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from harness.api.errors import MissingDependencyError
from harness.driver import RunOptions, run_evaluation
from harness.executors import InProcessExecutor
from harness.spec import EvalSpec
from harness.store import ResultStore
from tests.remote_helpers import (
    REPO,
    OpenpiLiberoPolicy,
    OpenpiServerThread,
    ServedPolicy,
    free_port,
    subprocess_env,
    write_preset,
)

OWN_PRESET = str(Path(__file__).resolve().parent / "data" / "fastwam-short-libero.toml")
# `wam-eval ARGS`, then whether the invocation imported Ray, then the CLI's exit code.
CLI_SAYING_IF_RAY = (
    "import sys; from harness.cli import main; rc = main(sys.argv[1:]); "
    "print('RAY-IMPORTED' if 'ray' in sys.modules else 'NO-RAY'); sys.exit(rc)"
)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", CLI_SAYING_IF_RAY, *args], capture_output=True, text=True,
                          env=subprocess_env(), cwd=REPO, timeout=300)


def counting_run(spec: EvalSpec, store: Path) -> tuple[list[str], object, str]:
    """Run `spec` in-process, counting executors built (by the preset each was built under)."""
    built: list[str] = []

    def factory(ref, ctx):
        built.append(ctx.preset.name)
        return InProcessExecutor(ref, ctx)

    out = io.StringIO()
    outcome = run_evaluation(spec, RunOptions(store=store, quiet=True, executor_factory=factory),
                             console=Console(file=out, width=200))
    return built, outcome, out.getvalue()


def test_a_served_policy_runs_under_its_protocol_with_one_executor_and_a_finished_run_builds_none(tmp_path):
    store = tmp_path / "s.sqlite"
    # The served policy names its protocol only in its PolicyInfo (the handshake carries it); its
    # 32-action chunks fit that protocol, not the benchmark's default.
    served = ServedPolicy("--policy", "tests.policies_for_tests:PrefersItsOwnProtocol", "--preset", OWN_PRESET)
    with served as server:
        spec = EvalSpec(benchmark="libero", policy=server.address, suites=("libero_object",), tasks="0", episodes=1)
        built, outcome, _ = counting_run(spec, store)
        assert built == ["test-fastwam-short"], "one executor, built under the protocol the server named"
        assert outcome.ran == 1 and outcome.manifest.preset_name == "test-fastwam-short"
        with ResultStore(store) as s:
            (row,) = s.episode_rows(outcome.run_id)
        assert row["end_reason"] == "horizon" and row["steps"] == 20 and row["policy_calls"] == 2

        built_again, again, printed = counting_run(spec, store)
        # The command line, on the Ray engine by default: Ray is not even imported.
        proc = cli("run", "--policy", server.address, "--suite", "libero_object", "--tasks", "0", "--episodes", "1",
                   "--store", str(store))
    assert built_again == [], "nothing left to do: no executor, so neither Ray nor the policy"
    assert again.run_id == outcome.run_id and again.ran == 0
    assert "nothing to do: all 1 planned episode(s) are stored already" in printed
    assert proc.returncode == 0, proc.stderr
    assert "nothing to do: all 1 planned episode(s) are stored already" in proc.stdout and "NO-RAY" in proc.stdout
    with ResultStore(store) as s:
        assert len(s.invocations(outcome.run_id)) == 1  # the finished run was not reopened


def test_another_model_behind_the_same_address_is_another_run(tmp_path):
    """The handshake's PolicyInfo decides the identity: a server now serving other weights (another
    seed: another checkpoint digest) is not taken for the finished run."""
    store = tmp_path / "s.sqlite"
    preset = write_preset(tmp_path / "p.toml", episodes=1)
    port = free_port()
    spec = EvalSpec(benchmark="libero", policy=f"remote://127.0.0.1:{port}", preset=str(preset),
                    suites=("libero_object",), tasks="0", episodes=1)
    with ServedPolicy("--policy", "tests.remote_helpers:make_probe_policy", "--preset", str(preset), port=port):
        built, first, _ = counting_run(spec, store)
        assert built == ["remote-test"] and first.ran == 1
    with ServedPolicy("--policy", "tests.remote_helpers:make_probe_policy", "--preset", str(preset), "--seed", "1",
                      port=port):
        built, second, printed = counting_run(spec, store)
    assert built == ["remote-test"] and second.ran == 1 and "nothing to do" not in printed
    assert second.run_id != first.run_id
    assert second.manifest.checkpoint_digest == "probe-seed-1" != first.manifest.checkpoint_digest


def test_a_finished_run_on_openpis_server_builds_nothing(tmp_path):
    """openpi's server declares no capabilities: the PolicyInfo comes from the options, the label and
    the address, all known before anything is built."""
    store = tmp_path / "s.sqlite"
    preset = write_preset(tmp_path / "p.toml", cameras=("agentview", "robot0_eye_in_hand"), episodes=1)
    policy = OpenpiLiberoPolicy(horizon=10)
    with OpenpiServerThread(policy, metadata={"model": "pi05-test"}) as server:
        spec = EvalSpec(benchmark="libero", policy=f"remote://127.0.0.1:{server.port}", preset=str(preset),
                        suites=("libero_object",), tasks="0", episodes=1, checkpoint="pi05-libero-test",
                        policy_options={"horizon": "10", "name": "openpi-probe"})
        built, first, _ = counting_run(spec, store)
        assert built == ["remote-test"] and first.ran == 1
        calls = len(policy.received)
        built, again, printed = counting_run(spec, store)
    assert built == [] and again.run_id == first.run_id and "nothing to do" in printed
    assert len(policy.received) == calls  # the server was asked for its metadata, never for actions


def test_on_a_cluster_a_server_the_driver_cannot_reach_is_left_to_the_nodes(tmp_path):
    """With --address the policy is built on the cluster's nodes, which may reach a server the driver
    cannot: the driver's failed handshake does not stop the run, the executor builds the policy."""
    port = free_port()
    spec = EvalSpec(benchmark="libero", policy=f"remote://127.0.0.1:{port}", suites=("libero_object",), tasks="0",
                    episodes=1, policy_options={"connect_timeout": "1"})
    built: list[str] = []

    def factory(ref, ctx):
        built.append(ref)
        return InProcessExecutor(ref, ctx)  # here the nodes cannot reach it either: the build says so

    options = RunOptions(store=tmp_path / "s.sqlite", executor_factory=factory, policy_on_cluster=True)
    with pytest.raises(MissingDependencyError, match=rf"cannot reach the policy server at ws://127\.0\.0\.1:{port}"):
        run_evaluation(spec, options)
    assert built == [spec.policy]


def test_an_unreachable_server_is_one_line_before_anything_is_built(tmp_path):
    port = free_port()
    spec = EvalSpec(benchmark="libero", policy=f"remote://127.0.0.1:{port}", suites=("libero_object",), tasks="0",
                    episodes=1, policy_options={"connect_timeout": "1"})

    def factory(ref, ctx):
        raise AssertionError("no executor may be built for an unreachable server")

    with pytest.raises(MissingDependencyError, match=rf"cannot reach the policy server at ws://127\.0\.0\.1:{port} "
                                                     r"within 1 s.*start it with `wam-eval serve`"):
        run_evaluation(spec, RunOptions(store=tmp_path / "s.sqlite", executor_factory=factory))
    assert not (tmp_path / "s.sqlite").exists()
    # The command line (Ray engine by default): one line, exit 2, Ray never imported.
    proc = cli("run", "--policy", f"remote://127.0.0.1:{port}", "--suite", "libero_object", "--tasks", "0",
               "--episodes", "1", "--policy-option", "connect_timeout=1", "--store", str(tmp_path / "s.sqlite"))
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"cannot reach the policy server at ws://127.0.0.1:{port} within 1 s" in lines[0], lines
    assert "NO-RAY" in proc.stdout
    assert not (tmp_path / "s.sqlite").exists()
