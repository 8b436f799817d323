"""`wam-eval presets [show NAME | diff A B]`: the protocol presets, as data."""

from __future__ import annotations

import argparse
import json

from rich.markup import escape
from rich.table import Table

from envs.presets import builtin_presets, diff_presets, resolve_preset
from harness.api.errors import UsageError
from harness.cli.console import make_console


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("presets", help="list, show or diff protocol presets")
    p.add_argument("action", nargs="?", choices=("list", "show", "diff"), default="list",
                   help="list the presets, show one, or diff two (default list)")
    p.add_argument("names", nargs="*", help="NAME for show; A B for diff (names or .toml paths)")
    p.set_defaults(func=run)


def _fmt(value) -> str:
    """A value as text, markup escaped (a preset's strings are the user's)."""
    return escape(json.dumps(value) if not isinstance(value, str) else value)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    if args.action == "list":
        table = Table(show_edge=False)
        for col in ("name", "benchmark", "version", "official", "hash"):
            table.add_column(col, no_wrap=True)
        for p in builtin_presets().values():
            table.add_row(escape(p.name), escape(p.benchmark), str(p.version), "yes" if p.official else "no", p.hash)
        console.print(table)
        return 0
    if args.action == "show":
        if len(args.names) != 1:
            raise UsageError("presets show takes one NAME")
        preset = resolve_preset(args.names[0])
        console.print(f"[bold]{escape(preset.name)}[/] v{preset.version}  hash {preset.hash}", soft_wrap=True)
        for key, value in preset.content().items():
            console.print(f"  {key}: {_fmt(value)}", soft_wrap=True)
        return 0
    if len(args.names) != 2:
        raise UsageError("presets diff takes two names: A B")
    a, b = (resolve_preset(n) for n in args.names)
    rows = diff_presets(a, b)
    table = Table(show_edge=False)
    for title in ("field", escape(a.name), escape(b.name)):
        table.add_column(title, overflow="fold")
    for key, va, vb in rows:
        table.add_row(key, _fmt(va), _fmt(vb))
    console.print(table if rows else f"{escape(a.name)} and {escape(b.name)} do not differ")
    return 0
