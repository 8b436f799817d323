"""`wam-eval fetch NAME [--local-dir DIR]`: download what a named model needs (harness/fetch.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from harness.api.hub_cache import cache_dir
from harness.cli.console import make_console
from harness.fetch import bundle_for, bundles, default_local_dir, download, human_size, is_cached, plan, run_command


def register(sub: argparse._SubParsersAction) -> None:
    names = ", ".join(bundles())
    p = sub.add_parser("fetch", help=f"download a released model's files from the Hugging Face hub ({names})")
    p.add_argument("name", metavar="NAME", help=f"{names}, or hf://ORG/REPO/FILE")
    p.add_argument("--local-dir", type=Path,
                   help="put the files here instead of the Hugging Face cache (then run with paths, not hf://); "
                        "default: the Hugging Face cache")
    p.add_argument("--plan", action="store_true", help="print the files and sizes, download nothing (default: download)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    bundle = bundle_for(args.name)
    local_dir = default_local_dir(args.local_dir)
    files = plan(bundle, local_dir)
    where = str(local_dir) if local_dir is not None else f"the Hugging Face cache ({cache_dir()})"
    table = Table(title=f"fetch {escape(bundle.name)}: {escape(bundle.description)} -> {escape(where)}",
                  title_justify="left")
    for col in ("repo", "file", "what", "size", "state"):
        table.add_column(col)
    have = {id(f): is_cached(f) for f in files}
    for f in files:
        table.add_row(f.repo, f.path, f.role, human_size(f.size), "cached" if have[id(f)] else "to download")
    console.print(table)
    total = sum(f.size for f in files)
    missing = sum(f.size for f in files if not have[id(f)])
    console.print(f"[bold]total[/] {human_size(total)} in {len(files)} file(s); {human_size(missing)} to download")
    if args.plan:
        return 0

    def done(fetched) -> None:
        console.print(f"sha256 {fetched.sha256}  {escape(str(fetched.local_path))}", soft_wrap=True, highlight=False)

    download(files, on_file=done)
    console.print("sha256 of each file recorded beside it (<file>.sha256)")
    commands = run_command(bundle, local_dir)
    if commands:
        console.print("[bold]run it with[/]")
        for command in commands:
            console.print(f"  {escape(command)}", soft_wrap=True, highlight=False)
    return 0
