import json

import pytest
import torch

from harness.api.errors import MissingDependencyError, UsageError
from policies.fastwam.latency import PAPER_LATENCY_MS, measure_latency


def test_tiny_latency_on_cpu():
    r = measure_latency("fastwam", "tiny", warmup=1, iterations=3)
    assert r.device == "cpu" and r.size == "tiny" and r.iterations == 3 and len(r.samples_ms) == 3
    assert 0 < r.min_ms <= r.p50_ms <= r.p95_ms <= r.max_ms
    assert r.network_calls["action_step"] == 10 and r.network_calls["video_prefill"] == 1
    assert r.paper_ms == PAPER_LATENCY_MS["fastwam"] == 190.0


def test_full_size_needs_cuda():
    with pytest.raises(MissingDependencyError, match="needs a CUDA GPU"):
        measure_latency("fastwam", "full", device="cpu")
    if not torch.cuda.is_available():
        with pytest.raises(MissingDependencyError, match="no CUDA"):
            measure_latency("fastwam", "full")


def test_bad_requests():
    with pytest.raises(UsageError):
        measure_latency("fastwam-xl")
    with pytest.raises(UsageError):
        measure_latency("fastwam", "huge")


def test_benchmark_script_writes_both_files(tmp_path):
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "fastwam_latency.py"
    spec = importlib.util.spec_from_file_location("fastwam_latency_script", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.main(["--variants", "fastwam", "fastwam-idm", "--warmup", "0", "--iterations", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "fastwam_latency_tiny.json").read_text())
    assert set(data["results"]) == {"fastwam", "fastwam-idm", "fastwam-idm+decode"}
    assert data["results"]["fastwam-idm+decode"]["network_calls"]["vae_decode"] == 1
    assert data["idm_over_fastwam"]["paper"] == pytest.approx(810 / 190)
    md = (tmp_path / "fastwam_latency_tiny.md").read_text()
    assert "| fastwam-idm |" in md and "| fastwam-idm+decode |" in md and "810" in md
