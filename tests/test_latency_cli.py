from __future__ import annotations

import json
import subprocess
import sys


def cli(*args):
    return subprocess.run([sys.executable, "-m", "harness.cli", "latency", *args], capture_output=True, text=True, timeout=600)


def test_latency_of_tiny_fastwam_reports_p50_p95_and_network_calls(tmp_path):
    out = tmp_path / "lat.json"
    proc = cli("--policy", "fastwam-idm", "--iterations", "3", "--warmup", "1", "--json", str(out))
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in proc.stdout.splitlines()
            if line.count("│") == 3}  # a table: field │ value, not a printed dict
    assert rows["p50"].endswith(" ms") and rows["p95"].endswith(" ms") and rows["paper"].startswith("810 ms on")
    assert rows["network calls"].startswith("vae_encode 1,") and "action_step 10" in proc.stdout
    result = json.loads(out.read_text())
    assert result["variant"] == "fastwam-idm" and len(result["samples_ms"]) == 3
    assert result["p50_ms"] <= result["p95_ms"]
    assert result["network_calls"]["video_step"] == 10 and result["network_calls"]["action_step"] == 10


def test_full_size_without_a_gpu_is_one_line_and_exit_2():
    proc = cli("--policy", "fastwam", "--size", "full")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "needs a CUDA GPU" in proc.stderr
