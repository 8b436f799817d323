"""The words and numbers every writer shares, so markdown, LaTeX and HTML say the same thing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import quote

from harness.report.aggregate import Cell, RunData
from harness.report.baselines import BaselineResult
from harness.report.compare import Comparison
from harness.stats import RateEstimate

INFERRED_MARK = "*"
OTHER_PROTOCOL_MARK = "†"
PRESET_MISMATCH_MARK = "‡"
DRIFT_MARK = "§"  # a cell holding episodes that started from a drifted simulator state


def pct(rate: float) -> str:
    return f"{100 * rate:.1f}"


def generated_by(report) -> str:
    """"Generated <time> by wam-eval <version> (commit <sha>)"."""
    gen = report.generator or {}
    commit = f" (commit {gen['commit']})" if gen.get("commit") else ""
    return f"Generated {when(report.generated_at)} by wam-eval {gen.get('version', '')}{commit}".rstrip() + "."


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "not finished"
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


@dataclass(frozen=True)
class CellText:
    """A table cell in pieces: each writer arranges and styles them."""

    rate: str  # "45.0", or "-" when there is nothing
    interval: str = ""  # "33.1-57.4"
    n: str = ""  # "n=40"
    flag: str = ""  # "partial 40/50", "over 1 of 4 suites"

    def plain(self) -> str:
        parts = [self.rate]
        if self.interval:
            parts.append(f"[{self.interval}]")
        if self.n:
            parts.append(self.n)
        text = " ".join(parts)
        return f"{text} ({self.flag})" if self.flag else text


EMPTY = CellText("-")


def estimate_text(estimate: RateEstimate, confidence: float) -> tuple[str, str]:
    lo, hi = estimate.interval(confidence)
    return pct(estimate.rate), f"{pct(lo)}-{pct(hi)}"


def run_cell(cell: Cell | None, confidence: float) -> CellText:
    if cell is None:
        return EMPTY
    if cell.empty:
        return CellText("-", flag=f"partial 0/{cell.planned}" if cell.planned else "")
    rate, interval = estimate_text(cell.estimate, confidence)
    flags = []
    if cell.n < cell.planned:
        flags.append(f"partial {cell.n}/{cell.planned}")
    if cell.note:
        flags.append(cell.note)
    if cell.drifted:
        flags.append(f"{DRIFT_MARK} drift {cell.drifted}/{cell.n}")
    return CellText(rate, interval, f"n={cell.n}", "; ".join(flags))


def baseline_cell(baseline: BaselineResult, column: str | None, confidence: float) -> CellText:
    """A published number as printed, with its interval when the source gives the trial count."""
    value = baseline.average if column is None else baseline.success.get(column)
    if value is None:
        return EMPTY
    # As printed: the columns at the source's precision (`decimals`), the average with one decimal.
    text = f"{value:.{baseline.decimals}f}" if column is not None else f"{value:.1f}"
    estimate = baseline.average_estimate() if column is None else baseline.estimate(column)
    if estimate is None:
        return CellText(text)
    _, interval = estimate_text(estimate, confidence)
    return CellText(text, interval, f"n={estimate.n}")


def video_href(link: str) -> str:
    """A video's link as a URL: the path percent-encoded, else a `#` or `?` in a folder name would
    cut the path short and a space or `%` would be misread. A file: URI (another drive) is one already."""
    if link.startswith("file:"):
        return link
    return quote(link, safe="/")


def run_title(run: RunData) -> str:
    """The run's row name: its label as given (a paper's method name), else its id, with the policy
    named when the id does not say it."""
    policy = run.manifest.policy_name
    extra = " (untrained weights)" if run.untrained else ""
    extra += " (ORACLE)" if run.privileged else ""
    if run.label or policy in run.run_id:
        return f"{run.name}{extra}"
    return f"{run.run_id} [{policy}]{extra}"


def oracle_sentence(run: RunData) -> str:
    return (
        f"Run {run.run_id} is an ORACLE: policy {run.manifest.policy_name} acts on privileged simulator state "
        "(object poses or the scripted expert's plan), not on what a learned policy sees. Its success rates measure "
        "the harness and the benchmark; they are not comparable with learned policies."
    )


def untrained_sentence(run: RunData) -> str:
    return (
        f"Run {run.run_id} used UNTRAINED weights: policy {run.manifest.policy_name} reports trained = false "
        f"(checkpoint {run.manifest.checkpoint_digest}). Its success rates measure the harness, not a trained model."
    )


def partial_sentence(run: RunData) -> str:
    planned = len(run.planned)
    return (
        f"Run {run.run_id} is PARTIAL: {planned - run.missing} of {planned} planned episodes are stored; "
        "cells marked partial rest on fewer episodes than planned (rerun the same command to finish it)."
    )


def comparison_words(c: Comparison) -> str:
    lo, hi = c.interval
    return f"{100 * c.diff:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def p_text(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def pairing_text(c: Comparison) -> str:
    prefix = f"{c.note}; " if c.note else ""
    if c.pairs is None:
        text = (
            f"independent (n={c.a.n} vs {c.b.n})"
            if all(s.pairs is None for s in c.strata)
            else "paired and independent"
        )
        if c.unpaired_a or c.unpaired_b:
            text += f"; {c.unpaired_a} of A and {c.unpaired_b} of B left out (nothing to compare them with)"
        return prefix + text
    text = f"paired on {c.pairs.n} episodes ({c.pairs.first_only} only A, {c.pairs.second_only} only B)"
    if c.unpaired_a or c.unpaired_b:
        text += f"; {c.unpaired_a} of A and {c.unpaired_b} of B without a partner left out"
    return prefix + text
