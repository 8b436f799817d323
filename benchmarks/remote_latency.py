"""What serving a policy over websocket costs per request, on loopback.

Starts `wam-eval serve --policy noop` (the policy itself takes ~0 ms, so what is measured is the wire:
msgpack-numpy both ways, websocket framing, the server's queue and thread hop), sends LIBERO-sized
observations (two 224x224 frames and the 8-D state, as openpi's LIBERO client does, and two 256x256
frames as wam-eval's presets render them) and writes the percentiles to benchmarks/out/remote_latency.json.

    python benchmarks/remote_latency.py [--calls 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness.api.types import EpisodeKey, Observation
from policies.base import PolicyContext
from policies.remote import make_remote_policy
from policies.remote.codec import encode
from policies.remote.protocol import NATIVE, observation_to_wire

OUT = Path(__file__).resolve().parent / "out" / "remote_latency.json"
CTX = PolicyContext(benchmark="libero", action_dim=7, noop_action=(0.0,) * 6 + (-1.0,))
KEY = EpisodeKey("libero", "libero_object", "bench", "default", 0)


def start_server() -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "serve", "--policy", "noop", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for line in proc.stdout:
        match = re.search(r"on ws://127\.0\.0\.1:(\d+)", line)
        if match:
            return proc, int(match.group(1))
    raise RuntimeError(f"server exited with {proc.wait()}")


def measure(size: int, calls: int, port: int) -> dict:
    rng = np.random.default_rng(0)
    obs = Observation(
        images={c: rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for c in ("agentview", "robot0_eye_in_hand")},
        state=rng.normal(size=8).astype(np.float32), instruction="put the bowl on the plate", episode_id=KEY.id,
    )
    policy = make_remote_policy(f"remote://127.0.0.1:{port}", CTX)
    policy.reset(KEY)
    for _ in range(10):  # warm up: connection, allocator
        policy.infer([obs])
    rows = []
    for _ in range(calls):
        t0 = time.perf_counter()
        info = policy.infer([obs])[0].info
        rows.append({**info, "wall_ms": (time.perf_counter() - t0) * 1000.0})
    policy.close()

    def pct(name: str) -> dict:
        values = np.array([r[name] for r in rows])
        return {"p50": round(float(np.percentile(values, 50)), 3), "p90": round(float(np.percentile(values, 90)), 3)}

    return {
        "frame": f"2 x {size}x{size}x3 uint8",
        "request_bytes": len(encode(observation_to_wire(obs, NATIVE, reset=False))),
        **{name: pct(name) for name in ("wall_ms", "roundtrip_ms", "server_infer_ms", "network_ms", "queue_ms")},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    proc, port = start_server()
    try:
        results = [measure(size, args.calls, port) for size in (224, 256)]
    finally:
        proc.kill()
        proc.wait()
    report = {"host": platform.node(), "cpus": __import__("os").cpu_count(), "calls": args.calls, "results": results}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    for r in results:
        print(f"{r['frame']}: {r['request_bytes']} B/request; round trip p50 {r['roundtrip_ms']['p50']} ms "
              f"(p90 {r['roundtrip_ms']['p90']}), of which server infer p50 {r['server_infer_ms']['p50']} ms")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
