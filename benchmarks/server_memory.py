"""Peak memory of `wam-eval serve` under a flood of over-limit requests, with and without the
oversize pool (--max-oversize-mb) doing its job.

    nice -n 10 python benchmarks/server_memory.py [--limit-mb 16 --request-mb 60 --clients 4]

Each client opens a connection and sends one request over the message limit but under 4x it (the
size the server reads in order to answer it with an error). "every connection a full share" gives
the pool room for all of them at once, as the server behaved before the pool; "the default pool"
is --max-oversize-mb at 4x the message limit, the default ratio (256 for 64). The figure is the
server process's peak resident memory (VmHWM) over its idle size. Writes benchmarks/out/server_memory.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from benchmarks.engine_common import load_note, machine, write_figures  # noqa: E402
from policies.remote.codec import encode  # noqa: E402


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def flood(limit_mb: float, pool_mb: float, request: bytes, clients: int) -> dict:
    import websockets
    import websockets.sync.client as ws_client

    cmd = [sys.executable, "-m", "harness.cli", "serve", "--policy", "noop", "--port", "0",
           "--max-message-mb", str(limit_mb), "--max-oversize-mb", str(pool_mb)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline()
        port = int(line.split("on ws://127.0.0.1:")[1].split(";")[0])
        time.sleep(1.0)
        idle_kb = _status_kb(proc.pid, "VmRSS")
        outcomes: list[str] = []

        def client() -> None:
            try:
                with ws_client.connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None,
                                       open_timeout=60) as ws:
                    ws.recv(timeout=60)
                    ws.send(request)
                    reply = ws.recv(timeout=120)
                    outcomes.append("answered" if isinstance(reply, str) else "other")
            except websockets.ConnectionClosed as exc:
                outcomes.append(f"closed {exc.rcvd.code if exc.rcvd else '?'}")

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        peak_kb = _status_kb(proc.pid, "VmHWM")
        return {"pool_mb": pool_mb, "idle_mb": round(idle_kb / 1024, 1), "peak_mb": round(peak_kb / 1024, 1),
                "held_mb": round((peak_kb - idle_kb) / 1024, 1), "outcomes": sorted(outcomes)}
    finally:
        proc.kill()
        proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=float, default=16.0)
    parser.add_argument("--request-mb", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    size = int(args.request_mb * 1024 * 1024)
    request = encode({"observation/state": np.zeros(8), "observation/images/agentview":
                      np.zeros((size // (3 * 1024), 1024, 3), np.uint8)})
    assert args.limit_mb * 2**20 < len(request) < 4 * args.limit_mb * 2**20, "the request must be 1x-4x the limit"
    before = os.getloadavg()
    rows = {
        "every connection a full share": flood(args.limit_mb, 3 * args.limit_mb * args.clients, request, args.clients),
        "the default pool (4x the limit)": flood(args.limit_mb, 4 * args.limit_mb, request, args.clients),
    }
    note = load_note(before, os.getloadavg(), machine()["cores"])
    lines = [f"{args.clients} clients at once, each one request of {len(request) / 2**20:.0f} MiB over a "
             f"{args.limit_mb:g} MiB limit:"]
    for name, r in rows.items():
        lines.append(f"- {name} ({r['pool_mb']:g} MiB): server peak {r['peak_mb']} MiB, {r['held_mb']} MiB over idle; "
                     f"clients: {', '.join(r['outcomes'])}")
    text = "\n".join(lines)
    print(text)
    write_figures("server_memory", {"machine": machine(), "args": vars(args), "rows": rows, "load": note},
                  f"# Server memory under over-limit requests\n\n{text}\n\n- {note}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
