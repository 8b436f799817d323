"""Fast-WAM (tiny, untrained, CPU) through the Ray engine as the one shared batching policy actor,
on real LIBERO, stored and reported as untrained.

Runtime on 2 cores: about a minute (Ray start, two LIBERO envs, a tiny model, two 20-step episodes).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.cli import main
from harness.store import ResultStore

HERE = Path(__file__).resolve().parent
PRESET = str(HERE / "data" / "fastwam-short-libero.toml")


@pytest.mark.usefixtures("shared_ray")
def test_tiny_fastwam_runs_as_the_shared_batched_policy_actor_and_is_reported_untrained(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(HERE.parent), os.environ.get("PYTHONPATH", "")) if p))
    store = tmp_path / "fw.sqlite"
    code = main([
        "run", "--benchmark", "libero", "--suite", "libero_object", "--tasks", "0,1", "--episodes", "1",
        "--policy", "fastwam", "--policy-option", "size=tiny", "--preset", PRESET, "--store", str(store),
        "--workers", "2", "--policy-placement", "shared", "--batch-wait-ms", "200",
    ])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "untrained weights" in out
    import mujoco

    # The preset extends fastwam-libero, which names the MuJoCo of the official README.
    warned = "for a number beside the paper's, pip install mujoco==3.3.2" in out
    assert warned == (mujoco.__version__ != "3.3.2"), out
    assert "policy input: composed 224x448 'image'" in out
    with ResultStore(store) as s:
        (run,) = s.runs()
        rows = s.episode_rows(run.run_id)
    assert run.policy["trained"] is False and run.preset_name == "test-fastwam-short"
    assert len(rows) == 2
    for row in rows:
        assert row["end_reason"] in ("horizon", "success"), row["error"]
        if row["end_reason"] == "horizon":
            assert row["steps"] == 20 and row["policy_calls"] == 2  # 10 of each 32-action chunk executed
        calls = row["extra"]["calls"]
        assert len(calls) == row["policy_calls"] and all("batch_wait_ms" in c for c in calls)
        assert row["policy_ms"] > 0
    assert all(r["worker"].startswith("worker-") for r in rows), "episodes ran in Ray workers, not in-process"

    out_dir = tmp_path / "report"
    assert main(["report", run.run_id, "--store", str(store), "--out", str(out_dir)]) == 0
    text = (out_dir / "report.md").read_text()
    assert "UNTRAINED" in text and run.run_id in text
