"""`wam-eval setup TARGET`: make this machine ready for something that needs more than pip.

  robotwin-ci   the RoboTwin CPU stand-in (preset robotwin2-primitives): a software Vulkan device
                (Mesa 25 lavapipe from Debian bookworm-backports, apt-installed as root) and the
                dual-Franka embodiment built from installed packages (envs/robotwin/setup_ci.py).
"""

from __future__ import annotations

import argparse

TARGETS = ("robotwin-ci",)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="prepare this machine: robotwin-ci (RoboTwin's CPU stand-in)")
    p.add_argument("target", choices=TARGETS, help="robotwin-ci: Vulkan driver and stand-in assets for robotwin2-primitives")
    p.add_argument("--dir", help="where to build the stand-in (default: $WAM_EVAL_ROBOTWIN_STANDIN, else "
                                 "~/.cache/wam-eval/robotwin-standin)")
    p.add_argument("--no-apt", action="store_true",
                   help="never run apt-get; fail with the command to run instead (default: apt-get as root)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from envs.robotwin.setup_ci import run_setup

    run_setup(args.dir, apt=not args.no_apt)
    return 0
