"""`wam-eval runs`: the runs a store holds, so that no one has to provoke an error to see them."""

from __future__ import annotations

import argparse

from rich import box
from rich.markup import escape
from rich.table import Table

from harness.cli.console import make_console
from harness.cli.stores import add_store_argument, store_paths
from harness.report.aggregate import open_store
from harness.report.format import when


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("runs", help="list the stored runs: id (policy and preset), label, checkpoint, episodes, success")
    add_store_argument(p)
    p.set_defaults(func=run)


def short_digest(digest: str) -> str:
    """sha256:<12 hex>, as git shortens commits: enough to tell checkpoints apart at a glance (the
    report's manifest has the whole digest)."""
    algo, sep, hexdigest = digest.partition(":")
    return f"{algo}:{hexdigest[:12]}" if sep and len(hexdigest) > 12 else digest


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    for path in store_paths(args):
        with open_store(path) as store:
            overview = store.run_overview()
        # Two lines per run keep the table within 80 columns; the id, which users copy into report and
        # compare, never wraps. It begins with the policy's and the preset's names (spec.run_id_for),
        # so they are not repeated in columns of their own, which would wrap at this width.
        table = Table(title=f"{len(overview)} run(s) in {escape(str(path))}", title_justify="left",
                      caption="run id: <policy>-<preset>-<identity>", caption_justify="left",
                      box=box.SIMPLE_HEAD, pad_edge=False)
        table.add_column("run / label", no_wrap=True)
        table.add_column("weights", overflow="fold")  # the checkpoint's digest, or what stands for it
        table.add_column("episodes", overflow="fold")  # stored/planned, success
        table.add_column("last\nactivity", no_wrap=True)
        for o in overview:
            m = o["manifest"]
            stored, planned = o["stored"], o["planned"]
            success = f"{100 * o['successes'] / stored:.1f}%" if stored else "-"
            if o["errors"]:
                success += f"\n{o['errors']} errors"
            weights = "none" if m.policy.get("trained", True) is None else short_digest(m.checkpoint_digest)
            last = when(m.updated_at).removesuffix(" UTC").split(" ")
            table.add_row(
                f"{m.run_id}\n{escape(o['label'] or '-')}",
                escape(weights),
                f"{stored}/{planned}" + (" partial" if stored < planned else "") + f"\n{success}",
                f"{last[0]}\n{last[1][:5]}" + (" done" if m.finished_at else ""),
            )
        console.print(table)
    return 0
