"""Latency of the four Fast-WAM variants per action chunk, next to the paper's Figure 4.

    python benchmarks/fastwam_latency.py                 # tiny, CPU
    python benchmarks/fastwam_latency.py --size full     # released architecture, random bf16 weights, CUDA

Writes OUT/fastwam_latency_<size>.json and .md (OUT defaults to benchmarks/out).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from policies.fastwam.config import VARIANTS  # noqa: E402
from policies.fastwam.latency import PAPER_HARDWARE, PAPER_LATENCY_MS, LatencyResult, measure_latency  # noqa: E402

IDM_AS_RELEASED = "fastwam-idm+decode"


def ratio(results: dict[str, LatencyResult], num: str, den: str) -> float | None:
    if num in results and den in results and results[den].p50_ms > 0:
        return results[num].p50_ms / results[den].p50_ms
    return None


def markdown(results: dict[str, LatencyResult], size: str) -> str:
    first = next(iter(results.values()))
    lines = [
        f"# Fast-WAM latency per action chunk ({size})",
        "",
        f"Measured on {first.device_name} ({first.device}, {first.dtype}, {first.threads} threads), batch {first.batch}, "
        f"{first.warmup} warm-up + {first.iterations} timed calls of the policy's `infer`; random weights "
        f"({'the released architecture' if size == 'full' else 'the tiny configuration: not comparable to the paper'}). "
        f"Paper: Figure 4, {PAPER_HARDWARE}.",
        "",
        "| variant | p50 ms | p95 ms | network passes per chunk | paper ms |",
        "|---|---:|---:|---|---:|",
    ]
    for label, r in results.items():
        calls = ", ".join(f"{k} {n}" for k, n in r.network_calls.items() if n)
        paper = f"{PAPER_LATENCY_MS[r.variant]:.0f}" if r.variant in PAPER_LATENCY_MS else "-"
        lines.append(f"| {label} | {r.p50_ms:.1f} | {r.p95_ms:.1f} | {calls} | {paper} |")
    lines += ["", f"`{IDM_AS_RELEASED}`: IDM plus the VAE decode of its imagined 9-frame clip, which the released "
              "IDM inference performs at every chunk (it changes no action)."]
    for label in ("fastwam-idm", IDM_AS_RELEASED):
        ours = ratio(results, label, "fastwam")
        if ours is not None:
            paper = PAPER_LATENCY_MS["fastwam-idm"] / PAPER_LATENCY_MS["fastwam"]
            lines.append(f"{label} / fastwam (p50): {ours:.2f}x here; IDM / Fast-WAM {paper:.2f}x in the paper.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--device", default=None, help="default: cuda for full, cpu for tiny")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument(
        "--threads", type=int, default=None,
        help="torch intra-op threads (default: 1 on CPU, where a shared 2-core machine makes more threads "
        "spin against other processes and times swing by 10x and more)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "out")
    parser.add_argument("--no-idm-decode", action="store_true", help=f"skip the {IDM_AS_RELEASED} row")
    args = parser.parse_args(argv)
    import torch

    on_cpu = (args.device or ("cuda" if args.size == "full" else "cpu")) == "cpu"
    threads = args.threads or (1 if on_cpu else None)
    if threads:
        torch.set_num_threads(threads)
    runs = [(v, v, False) for v in args.variants]
    if "fastwam-idm" in args.variants and not args.no_idm_decode:
        runs.append((IDM_AS_RELEASED, "fastwam-idm", True))
    results: dict[str, LatencyResult] = {}
    for label, variant, decode in runs:
        started = time.perf_counter()
        r = measure_latency(variant, args.size, device=args.device, warmup=args.warmup, iterations=args.iterations,
                            batch=args.batch, decode_video=decode)
        results[label] = r
        print(f"{label:20s} p50 {r.p50_ms:8.1f} ms  p95 {r.p95_ms:8.1f} ms  ({time.perf_counter() - started:.0f} s)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"fastwam_latency_{args.size}"
    payload = {
        "results": {v: r.as_dict() for v, r in results.items()},
        "paper": {"hardware": PAPER_HARDWARE, "latency_ms": PAPER_LATENCY_MS},
        "idm_over_fastwam": {"measured": ratio(results, "fastwam-idm", "fastwam"),
                             "measured_with_decode": ratio(results, IDM_AS_RELEASED, "fastwam"),
                             "paper": PAPER_LATENCY_MS["fastwam-idm"] / PAPER_LATENCY_MS["fastwam"]},
    }
    stem.with_suffix(".json").write_text(json.dumps(payload, indent=2))
    stem.with_suffix(".md").write_text(markdown(results, args.size))
    print(f"wrote {stem}.json and {stem}.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
