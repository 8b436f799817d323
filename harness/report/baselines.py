"""Published results as data: one TOML file per source under results/baselines/.

Each file has a [source] table and [[result]] rows (benchmark, method, protocol, success per column
in percent) and optionally [[latency]] rows. The shipped file holds the Fast-WAM paper's Table 1,
Table 2 and Figure 4; users add a file per source of their own.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from harness.api.errors import UsageError
from harness.api.report_facts import ReportFacts
from harness.stats import RateEstimate

# Where a wheel install puts the shipped files (pyproject's data-files), below sys.prefix.
INSTALLED_SUBDIR = Path("share") / "wam-eval" / "baselines"


def successes_of(percent: float, trials: int) -> int:
    """The success count behind a printed percentage. A rate between two counts (98.5% of 500 is
    492.5) is taken half-up, 493: round() would send halves to the even count, up for some cells and
    down for others. The product is formed from the decimal the source printed, since the float
    product can land a hair off the half."""
    exact = Decimal(repr(float(percent))) * trials / 100
    return int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    citation: str = ""
    url: str = ""
    path: str = ""


@dataclass(frozen=True)
class BaselineResult:
    source: Source
    benchmark: str
    method: str
    protocol: str
    success: Mapping[str, float]  # column key -> percent
    average: float | None = None  # as printed; None when the source prints none
    table: str = ""
    trials_per_cell: int | None = None
    embodied_pretraining: bool | None = None
    name_inferred: bool = False
    note: str = ""
    decimals: int = 1  # as the source prints its columns (Table 1: 2); averages keep their own

    def estimate(self, column: str) -> RateEstimate | None:
        """The cell as a rate with the source's trial count (for intervals), when both are known."""
        if column not in self.success:
            return None
        if not self.trials_per_cell:
            return None
        n = self.trials_per_cell
        return RateEstimate.pooled(successes_of(self.success[column], n), n)

    def average_estimate(self) -> RateEstimate | None:
        """The Average cell's uncertainty: the mean of the printed columns' estimates, as the
        paper's Average is the mean of its columns."""
        parts = [self.estimate(c) for c in self.success]
        if not parts or any(p is None for p in parts):
            return None
        return RateEstimate.mean(parts)

    @property
    def label(self) -> str:
        return self.method + ("*" if self.name_inferred else "")


@dataclass(frozen=True)
class BaselineLatency:
    source: Source
    method: str
    latency_ms: float
    hardware: str
    protocol: str


@dataclass
class BaselineSet:
    results: list[BaselineResult] = field(default_factory=list)
    latencies: list[BaselineLatency] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)

    def for_benchmark(self, benchmark: str) -> list[BaselineResult]:
        return [r for r in self.results if r.benchmark == benchmark]


def shipped_baseline_dir() -> Path | None:
    """The baselines that come with wam-eval: the source checkout's results/baselines (also what an
    editable install sees), else the copy a wheel install put in <prefix>/share/wam-eval/baselines,
    found from this file's place (<prefix>/lib/pythonX.Y/site-packages/harness/report/)."""
    here = Path(__file__).resolve()
    checkout = here.parents[2] / "results" / "baselines"
    if checkout.is_dir():
        return checkout
    candidates = [parent / INSTALLED_SUBDIR for parent in here.parents[2:7]]
    candidates += [Path(prefix) / INSTALLED_SUBDIR for prefix in (sys.prefix, sys.base_prefix)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return None


def baseline_dirs(override: str | Path | None = None, *, cwd: Path | None = None) -> list[Path]:
    """The folders to read: `--baselines DIR` alone when given; otherwise the shipped baselines plus
    ./results/baselines of the working directory, where users add theirs."""
    if override is not None:
        path = Path(override)
        if not path.is_dir():
            raise UsageError(f"baselines folder {path} does not exist")
        return [path]
    dirs = []
    shipped = shipped_baseline_dir()
    if shipped is not None:
        dirs.append(shipped)
    local = (cwd or Path.cwd()) / "results" / "baselines"
    if local.is_dir() and all(local.resolve() != d.resolve() for d in dirs):
        dirs.append(local)
    return dirs


def _require(data: Mapping, key: str, where: str):
    if key not in data:
        raise UsageError(f"{where}: missing field {key!r}")
    return data[key]


def load_baseline_file(
    path: Path, *, facts: ReportFacts
) -> tuple[Source, list[BaselineResult], list[BaselineLatency]]:
    """One baseline file; a row of a benchmark that declares its table (facts.layouts) may fill only
    that table's columns."""
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"baseline file {path} is not valid TOML: {exc}") from None
    src = data.get("source")
    if not isinstance(src, dict):
        raise UsageError(f"baseline file {path}: needs a [source] table with id and title")
    source = Source(
        id=str(_require(src, "id", str(path))),
        title=str(_require(src, "title", str(path))),
        citation=str(src.get("citation", "")),
        url=str(src.get("url", "")),
        path=str(path),
    )
    results = []
    for i, row in enumerate(data.get("result", [])):
        where = f"{path} result #{i + 1}"
        benchmark = str(_require(row, "benchmark", where))
        success = {str(k): float(v) for k, v in dict(_require(row, "success", where)).items()}
        known = facts.known_columns(benchmark)
        if known is not None and set(success) - known:
            raise UsageError(
                f"{where}: column(s) {', '.join(sorted(set(success) - known))} are not in the {benchmark} table "
                f"({', '.join(sorted(known))})"
            )
        for column, value in success.items():
            if not 0.0 <= value <= 100.0:
                raise UsageError(f"{where}: success {column} = {value} is not a percentage")
        results.append(
            BaselineResult(
                source=source,
                benchmark=benchmark,
                method=str(_require(row, "method", where)),
                protocol=str(_require(row, "protocol", where)),
                success=success,
                average=float(row["average"]) if row.get("average") is not None else None,
                table=str(row.get("table", "")),
                trials_per_cell=int(row["trials_per_cell"]) if row.get("trials_per_cell") else None,
                embodied_pretraining=row.get("embodied_pretraining"),
                name_inferred=bool(row.get("name_inferred", False)),
                note=str(row.get("note", "")),
                decimals=int(row.get("decimals", 1)),
            )
        )
    latencies = []
    for i, row in enumerate(data.get("latency", [])):
        where = f"{path} latency #{i + 1}"
        latencies.append(
            BaselineLatency(
                source=source,
                method=str(_require(row, "method", where)),
                latency_ms=float(_require(row, "latency_ms", where)),
                hardware=str(row.get("hardware", "")),
                protocol=str(_require(row, "protocol", where)),
            )
        )
    return source, results, latencies


def load_baselines(dirs: Sequence[Path] | Iterable[Path], *, facts: ReportFacts) -> BaselineSet:
    out = BaselineSet()
    seen: dict[str, Path] = {}
    for folder in dirs:
        for path in sorted(Path(folder).glob("*.toml")):
            source, results, latencies = load_baseline_file(path, facts=facts)
            if source.id in seen:
                # The same source in the shipped folder and a user's folder: the later (user's) copy wins.
                out.results = [r for r in out.results if r.source.id != source.id]
                out.latencies = [r for r in out.latencies if r.source.id != source.id]
                out.files.remove(seen[source.id])
            seen[source.id] = path
            out.results.extend(results)
            out.latencies.extend(latencies)
            out.files.append(path)
    return out
