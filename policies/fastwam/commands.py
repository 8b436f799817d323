"""Fast-WAM's `wam-eval latency`: milliseconds per action chunk of a variant (p50, p95), named by
its policy registry entry (policies/registry.py). torch loads only when the command runs."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from harness.api.commands import Command, CommandContext

VARIANTS = ("fastwam", "fastwam-joint", "fastwam-idm", "fastwam-novideo")


def _latency_arguments(p: argparse.ArgumentParser, ctx: CommandContext) -> None:
    p.add_argument("--policy", required=True, choices=VARIANTS, help="the Fast-WAM variant to time")
    p.add_argument(
        "--size", choices=("tiny", "full"), default="tiny", help="model size (default tiny; full needs a CUDA GPU)"
    )
    p.add_argument("--device", help="torch device (default: cuda for full, cpu for tiny)")
    p.add_argument(
        "--benchmark",
        choices=("libero", "robotwin"),
        default="libero",
        help="sets image and state size (default libero)",
    )
    p.add_argument("--iterations", type=int, default=20, help="timed calls (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default 3)")
    p.add_argument("--batch", type=int, default=1, help="observations per call (default 1)")
    p.add_argument(
        "--decode-video",
        action="store_true",
        help="Joint/IDM: also decode the imagined clip, as released IDM does (default: off)",
    )
    p.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default 1 on CPU: more threads on a small shared "
        "machine make the timings swing, not shrink)",
    )
    p.add_argument("--json", type=Path, help="also write the full result here (default: not written)")


def _run_latency(args: argparse.Namespace, argv: list[str], ctx: CommandContext) -> int:
    import torch

    from policies.fastwam.latency import measure_latency

    on_cpu = (args.device or ("cuda" if args.size == "full" else "cpu")).startswith("cpu")
    if args.threads or on_cpu:
        torch.set_num_threads(args.threads or 1)
    console = ctx.make_console()
    result = measure_latency(
        args.policy,
        args.size,
        device=args.device,
        warmup=args.warmup,
        iterations=args.iterations,
        batch=args.batch,
        benchmark=args.benchmark,
        decode_video=args.decode_video,
    )
    table = Table(title=f"{result.variant} latency per action chunk", title_justify="left", show_header=False)
    table.add_column("field", no_wrap=True)
    table.add_column("value", overflow="fold")
    rows = [
        ("model", f"{result.size}, {result.dtype}"),
        ("device", result.device_name),
        ("batch", str(result.batch)),
        ("timed calls", f"{result.iterations} (after {result.warmup} untimed)"),
        ("p50", f"{result.p50_ms:.1f} ms"),
        ("p95", f"{result.p95_ms:.1f} ms"),
        ("mean (min-max)", f"{result.mean_ms:.1f} ms ({result.min_ms:.1f}-{result.max_ms:.1f})"),
        ("network calls", ", ".join(f"{k} {v}" for k, v in result.network_calls.items())),
    ]
    if result.paper_ms:
        rows.append(("paper", f"{result.paper_ms:.0f} ms on {result.paper_hardware}"))
    for field, value in rows:
        table.add_row(field, value)
    console.print(table)
    if result.size == "tiny":
        console.print("[yellow]tiny random weights: a speed check of the code path, not the paper's model[/]")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.as_dict(), indent=2))
    return 0


LATENCY = Command(
    "latency", "ms per action chunk of a Fast-WAM variant (random weights)", _latency_arguments, _run_latency
)
