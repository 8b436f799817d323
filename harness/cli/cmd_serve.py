"""`wam-eval serve`: serve a policy over websocket on openpi's wire format (docs/remote.md).

Evaluate it from anywhere with `wam-eval run --policy remote://HOST:PORT`; openpi's
WebsocketClientPolicy can talk to it too.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys

from envs.registry import BENCHMARKS, get_benchmark
from harness.api.errors import UsageError
from harness.api.version import wam_eval_version
from harness.cli.args import POLICY_OPTION_HELP, key_value
from harness.driver import choose_preset, policy_context
from harness.spec import EvalSpec
from policies.registry import make_policy

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve a policy over websocket (openpi's wire format) for remote evaluation")
    p.add_argument("--policy", required=True, help="noop, random, fastwam..., or module:factory")
    p.add_argument("--checkpoint", help="policy checkpoint path (default: none)")
    p.add_argument("--policy-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help=POLICY_OPTION_HELP)
    p.add_argument("--benchmark", default="libero", choices=sorted(BENCHMARKS),
                   help="the benchmark the policy is built for (its action dimension and no-op action; "
                        "default libero)")
    p.add_argument("--preset", help="protocol preset whose action size and chunk length the policy should produce; "
                   "default: the policy's own, else the benchmark's")
    p.add_argument("--seed", type=int, help="policy seed; default: the preset's env_seed")
    p.add_argument("--device", default="cpu", help="policy device: cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1; 0.0.0.0 exposes the policy, unauthenticated, to the network)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000, as openpi; 0 picks a free one)")
    p.add_argument("--batch-max", type=int, default=1, metavar="N",
                   help="answer up to N waiting requests with one batched infer call, as `run --batch-max` batches "
                        "a shared policy actor (default 1: one at a time)")
    p.add_argument("--max-message-mb", type=float, default=64.0, help="largest request accepted, in MiB (default 64)")
    p.add_argument("--max-connections", type=int, default=64,
                   help="connections served at once; one more is refused at the handshake (HTTP 503) (default 64)")
    p.add_argument("--idle-timeout", type=float, default=600.0, metavar="SECONDS",
                   help="close a connection that sends no request for this long (default 600; 0: never)")
    p.add_argument("--max-oversize-mb", type=float, default=256.0,
                   help="memory, in MiB, that requests over --max-message-mb may hold at once across connections "
                        "(each is read to be answered with an error); past it such a request closes its connection "
                        "(code 1009) unread (default 256)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port must be 0..65535, not {args.port}")
    if args.batch_max < 1:
        raise UsageError(f"--batch-max must be at least 1, not {args.batch_max}")
    if not (math.isfinite(args.max_message_mb) and args.max_message_mb > 0):
        raise UsageError(f"--max-message-mb must be a positive number, not {args.max_message_mb}")
    if args.max_connections < 1:
        raise UsageError(f"--max-connections must be at least 1, not {args.max_connections}")
    if not (math.isfinite(args.idle_timeout) and args.idle_timeout >= 0):
        raise UsageError(f"--idle-timeout must be seconds >= 0 (0: never), not {args.idle_timeout}")
    if not (math.isfinite(args.max_oversize_mb) and args.max_oversize_mb >= 0):
        raise UsageError(f"--max-oversize-mb must be a number >= 0, not {args.max_oversize_mb}")
    if args.policy.startswith("remote://"):
        raise UsageError("serve a policy that runs here, not a remote:// one")
    from policies.remote.server import PolicyServer, ServerLimits  # websockets only when serving

    benchmark = get_benchmark(args.benchmark)
    # The same preset choice and policy context as `wam-eval run`, so a served policy answers as it would in-process.
    preset = choose_preset(EvalSpec(benchmark=benchmark.name, policy=args.policy, preset=args.preset), benchmark)
    ctx = policy_context(benchmark, preset, seed=args.seed if args.seed is not None else preset.env_seed,
                         checkpoint=args.checkpoint, device=args.device, options=dict(args.policy_option))
    policy = make_policy(args.policy, ctx)
    server = PolicyServer(
        policy,
        benchmark=benchmark.name,
        host=args.host,
        port=args.port,
        max_batch=args.batch_max,
        max_message_bytes=int(args.max_message_mb * 1024 * 1024),
        server_version=wam_eval_version(),
        limits=ServerLimits(max_connections=args.max_connections, idle_timeout_s=args.idle_timeout or None,
                            max_oversize_bytes=int(args.max_oversize_mb * 1024 * 1024)),
    )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("websockets").setLevel(logging.WARNING)
    info = server.info

    def ready(host: str, port: int) -> None:
        where = f"ws://{host}:{port}" if ":" not in host else f"ws://[{host}]:{port}"
        print(f"serving {info.name} ({info.action_dim}-D actions, horizon {info.horizon}, checkpoint "
              f"{info.checkpoint_digest}) on {where}; evaluate with --policy remote://HOST:{port}", flush=True)
        if args.host not in LOOPBACK:
            print(f"warning: bound to {args.host}: anyone who reaches this port can run the policy (no authentication); "
                  "prefer 127.0.0.1 and an SSH tunnel", file=sys.stderr, flush=True)

    try:
        server.run(ready=ready)
    except OSError as exc:
        raise UsageError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    finally:
        close = getattr(policy, "close", None)
        if callable(close):
            close()
    return 0
