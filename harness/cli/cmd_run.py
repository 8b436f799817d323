"""`wam-eval run`: evaluate a policy on a benchmark and store every episode."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from envs.registry import BENCHMARKS
from harness.api.errors import UsageError
from harness.cli.args import POLICY_OPTION_HELP, csv_list, key_value
from harness.cli.console import make_console
from harness.cli.stores import add_store_option
from harness.progress import console_say
from harness.ray_engine.options import PolicyPlacement, RayEngineOptions
from harness.recording import RECORD_MODES
from harness.spec import EvalSpec
from harness.store import ResultStore
from harness.summary import suite_rates
from wam_eval import Evaluation, evaluate


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="evaluate a policy; resumes where the same run stopped")
    p.add_argument("--benchmark", default="libero", choices=sorted(BENCHMARKS), help="default libero")
    p.add_argument("--suite", type=csv_list, default=(), help="suite name(s), comma-separated; default: the preset's suites, else the paper's")
    p.add_argument("--tasks", help="task indices or names per suite: '0,1', '0-4', a name; default: all")
    p.add_argument("--setting", type=csv_list, default=(), help="clean,randomized (RoboTwin); default: the preset's")
    p.add_argument("--episodes", type=int, help="episodes per task and setting; default: the preset's (LIBERO 50)")
    p.add_argument("--preset", help="protocol preset name or .toml path; default: the policy's, else the benchmark's")
    add_policy_arguments(p)
    add_execution_arguments(p)
    p.set_defaults(func=run)


def add_policy_arguments(p: argparse.ArgumentParser) -> None:
    """The policy flags `run` shares with `reproduce`."""
    p.add_argument("--policy", required=True, help="noop, random, fastwam..., remote://HOST:PORT or module:factory")
    p.add_argument("--checkpoint", help="policy checkpoint path, or hf://ORG/REPO/FILE from the local Hugging Face "
                   "cache (`wam-eval fetch`; runs never download); a label for remote://; default: none (Fast-WAM "
                   "then needs size=)")
    p.add_argument("--policy-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                   help=POLICY_OPTION_HELP)
    p.add_argument("--device", default="cpu", help="policy device: cpu, cuda, cuda:1 (default cpu)")
    p.add_argument("--seed", type=int, help="the policy's seed (part of the run identity); default: the preset's "
                   "env_seed. The simulator's seed always comes from the preset")



def add_execution_arguments(p: argparse.ArgumentParser) -> None:
    """Store, recording, engine and output flags `run` shares with `reproduce`."""
    add_store_option(p)
    p.add_argument("--label", type=run_label, help="the run's name in report tables and figures, stored with it "
                   "(not part of its identity: a later --label renames it); default: none, the run id is shown")
    p.add_argument("--rerun-errors", action="store_true",
                   help="run again the episodes stored with reason error (default: they count as done)")
    p.add_argument("--force-unlock", action="store_true",
                   help="take the run over although its lock says another driver runs it. Only when you are sure "
                        "none does (a driver on a machine that is gone): a live one would run the missing "
                        "episodes too, doing the work twice (each episode is still stored once); default: refuse")
    p.add_argument("--record", choices=RECORD_MODES, default="none",
                   help="keep a video of the frames the policy read: of failed episodes, all, or none (default)")
    p.add_argument("--video-dir", type=Path, help="where videos go (default: videos/<run> beside the store)")
    engine = p.add_argument_group("engine", "where episodes run (Ray actors by default)")
    engine.add_argument("--workers", type=int, default=None,
                        help="simulator workers (Ray actors); default: one per CPU core (of the cluster with --address); "
                             "0: in-process, no Ray (debugging)")
    engine.add_argument("--address", help="join a running Ray cluster (`ray start --head` there): HOST:PORT or auto "
                        "(default: start a local one)")
    engine.add_argument("--policy-placement", choices=[p.value for p in PolicyPlacement],
                        help="policy inside each worker, or one shared actor batching all workers' requests; "
                             "default: worker on --device cpu, shared otherwise")
    engine.add_argument("--batch-max", type=int, default=8, help="shared policy: largest batch (default 8)")
    engine.add_argument("--batch-wait-ms", type=float, default=5.0,
                        help="shared policy: how long a batch waits for more requests (default 5 ms)")
    engine.add_argument("--max-retries", type=int, default=2,
                        help="retries of an episode whose worker died, each on a fresh worker (default 2)")
    engine.add_argument("--episode-timeout", type=float, default=3600.0, metavar="SECONDS",
                        help="an episode attempt taking longer is hung: its worker is killed and the episode retried "
                             "(Ray workers only; default 3600; 0: no limit)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="timings on every episode line; actor output shown (default: off)")
    p.add_argument("-q", "--quiet", action="store_true", help="no per-episode lines or progress bar (default: off)")


def run_label(value: str) -> str:
    label = value.strip()
    if not label or len(label) > 80 or any(ch in label for ch in "\n\r\t"):
        raise argparse.ArgumentTypeError(f"--label {value!r} must be 1-80 characters on one line")
    return label


def build_spec(args: argparse.Namespace) -> EvalSpec:
    if args.episodes is not None and args.episodes < 1:
        raise UsageError(f"--episodes must be at least 1, not {args.episodes}")
    return EvalSpec(
        benchmark=args.benchmark,
        policy=args.policy,
        preset=args.preset,
        suites=tuple(args.suite),
        tasks=args.tasks,
        settings=tuple(args.setting),
        episodes=args.episodes,
        seed=args.seed,
        checkpoint=args.checkpoint,
        device=args.device,
        policy_options=dict(args.policy_option),
    )


def engine_options(args: argparse.Namespace) -> RayEngineOptions:
    return RayEngineOptions(
        workers=args.workers or None,  # 0 (in-process) never reaches the engine
        address=args.address,
        placement=PolicyPlacement(args.policy_placement) if args.policy_placement else None,
        batch_max=args.batch_max,
        batch_wait_ms=args.batch_wait_ms,
        max_retries=args.max_retries,
        episode_timeout_s=args.episode_timeout or None,
        verbose=args.verbose,
    )


def evaluate_args(args: argparse.Namespace, spec: EvalSpec, console: Console, argv: list[str]) -> Evaluation:
    """Run `spec` through wam_eval.evaluate with the command line's store, recording and engine flags
    (`run` and `reproduce`)."""
    if args.workers is not None and args.workers < 0:
        raise UsageError(f"--workers must be 0 (in-process) or more, not {args.workers}")
    engine = engine_options(args)  # checks the engine flags before anything starts
    if args.workers == 0:
        if args.address:
            raise UsageError("--address joins a Ray cluster; it needs --workers above 0 (or left out)")
        if args.policy_placement == "shared":
            raise UsageError("--policy-placement shared needs Ray workers; with --workers 0 the policy runs in-process")
    return evaluate(
        spec.policy, benchmark=spec.benchmark, suites=spec.suites, tasks=spec.tasks, settings=spec.settings,
        episodes=spec.episodes, preset=spec.preset, checkpoint=spec.checkpoint, options=spec.policy_options,
        seed=spec.seed, device=spec.device, store=args.store, workers=args.workers, engine=engine,
        rerun_errors=args.rerun_errors, record=args.record, video_dir=args.video_dir, verbose=args.verbose,
        quiet=args.quiet, force_unlock=args.force_unlock, label=args.label, console=console,
        say=console_say(console), argv=["wam-eval", *argv],
    )


# Exit codes of `run` (README "Exit codes"): 0 every episode stored without error, 2 bad input (nothing
# ran), 3 the run went through but episodes ended in error (counted as failures; --rerun-errors retries
# them), 130 interrupted; 1 is an unexpected failure (a traceback).
EXIT_EPISODE_ERRORS = 3
EXIT_INTERRUPTED = 130


def print_summary(console: Console, outcome, store_path: Path) -> int:
    """The per-suite table; returns how many of the run's stored episodes ended in error."""
    with ResultStore(store_path) as store:
        rates = suite_rates(outcome.planned, store.episode_rows(outcome.run_id))
    oracle = " (ORACLE: privileged simulator state)" if outcome.manifest.policy.get("privileged") else ""
    table = Table(title=f"run {outcome.run_id}{oracle}", title_justify="left")
    for col in ("suite", "setting", "success", "rate", "95% CI", "errors", "drift", "stored"):
        table.add_column(col)
    for r in rates:
        stored = f"{r.n}/{r.planned}" + ("" if r.n == r.planned else " partial")
        if r.n == 0:  # nothing stored yet (an interrupted first invocation): no rate to speak of
            table.add_row(r.suite, r.setting, "none stored", "-", "-", "-", "-", stored)
            continue
        lo, hi = r.interval
        # drift: episodes whose scene differed from the reference after warm-up, of those checked
        drift = f"[bold red]{r.drifted}/{r.checked}[/]" if r.drifted else (f"0/{r.checked}" if r.checked else "-")
        table.add_row(
            r.suite, r.setting, f"{r.successes}/{r.n}", f"{100 * r.rate:.1f}%", f"{100 * lo:.1f}-{100 * hi:.1f}",
            str(r.errors), drift, stored,
        )
    console.print(table)
    drifted = sum(r.drifted for r in rates)
    if drifted:
        console.print(f"[bold red]{drifted} episode(s) started from a simulator state that drifted from the reference "
                      "stack's: their success rates are not comparable with the paper's; `wam-eval doctor` checks "
                      "this stack[/]", soft_wrap=True)
    videos = [r.extra["video"] for r in outcome.results if r.extra.get("video")]
    if videos:
        console.print(f"{len(videos)} video(s) written, e.g. {escape(str(videos[0]))}", soft_wrap=True)
    unwritten = [r for r in outcome.results if r.extra.get("video_error")]
    if unwritten:  # said even with --quiet: the user asked for these videos
        console.print(f"[yellow]{len(unwritten)} video(s) could not be written, e.g. {escape(unwritten[0].key.id)}: "
                      f"{escape(str(unwritten[0].extra['video_error']))}[/]", soft_wrap=True)
    errors = sum(r.errors for r in rates)
    if errors:
        console.print(f"[red]{errors} episode(s) ended in error[/] (counted as failures); exit code "
                      f"{EXIT_EPISODE_ERRORS}. `--rerun-errors` runs them again", soft_wrap=True)
    return errors


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    outcome = evaluate_args(args, build_spec(args), console, argv).outcome
    errors = print_summary(console, outcome, args.store)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_EPISODE_ERRORS if errors else 0
