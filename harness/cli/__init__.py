"""`wam-eval`: one entry point, one module per subcommand."""

from __future__ import annotations

import argparse
import sqlite3
import sys
from typing import Sequence

from harness.api.errors import WamEvalError


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage plus the error; users asked for one line naming what is wrong."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from harness.api.version import wam_eval_version
    from harness.cli import (
        cmd_compare,
        cmd_doctor,
        cmd_export,
        cmd_fetch,
        cmd_list,
        cmd_presets,
        cmd_report,
        cmd_reproduce,
        cmd_run,
        cmd_runs,
        cmd_serve,
        plugins,
    )

    parser = OneLineParser(prog="wam-eval", description="Evaluate robot policies on LIBERO and RoboTwin 2.0.")
    parser.add_argument("--version", action="version", version=f"wam-eval {wam_eval_version()}",
                        help="print wam-eval's version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    for module in (cmd_list, cmd_fetch, cmd_run, cmd_runs, cmd_reproduce, cmd_presets, cmd_report, cmd_compare,
                   cmd_export, cmd_serve, cmd_doctor):
        module.register(sub)
    # What plug-ins bring (RoboTwin: seeds, setup; Fast-WAM: latency), listed by their registry entries.
    ctx = plugins.command_context()
    for command in plugins.plugin_commands():
        plugins.register(sub, command, ctx)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, argv) or 0)
    except WamEvalError as exc:
        print(f"wam-eval: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except sqlite3.DatabaseError as exc:
        # A store damaged under a running command (a disk fault, a copy taken mid-write): the stored
        # rows are the user's to recover, so say where, in one line, rather than a traceback.
        store = getattr(args, "store", None)
        where = f"the results store {store}" if store is not None else "a results store"
        print(f"wam-eval: error: {where} cannot be read or written ({exc}); restore it from a copy, or try "
              "`sqlite3 FILE .recover`", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
