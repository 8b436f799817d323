"""Expert-validated seeds: which simulator seeds RoboTwin's test episodes run on.

RoboTwin evaluates a policy on the first N seeds, counting up from 100000*(1+seed), on which the
task's scripted expert (play_once) plans and succeeds (check_success). Finding them runs the expert,
seconds to minutes per candidate, so every verdict is kept in the results store, one per seed, keyed
by (benchmark, task, setting, expert protocol), and computed once.

This module is RoboTwin's side of the harness's preparation phase (harness/preparation.py):
  - `pending_items`: what is missing for the episodes to run, as chunks of candidate seeds;
  - `check_chunk`: a worker runs the expert on a chunk (env.py supplies the real expert);
  - `episode_params`: the stored verdicts -> each episode's seed and the expert's episode info.
The episode list is upstream's rule exactly: walking up from the start seed through the seeds that
have a verdict, the first N accepted ones. Chunks of one task may be checked in parallel; a verdict
past a seed still unchecked waits until that seed is checked. Seed lists from elsewhere (one JSON
file per task) are imported as verdicts too, and replace what was stored.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from envs.presets import Preset
from envs.robotwin import catalog
from envs.robotwin.params import PresetParams
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey, EpisodeParams, PrepItem, Verdict
from harness.api.verdicts import VERDICT_ERROR, StoredVerdict, VerdictBatch, VerdictSink, VerdictView

NOT_LISTED = "not in the imported list"
FORMAT = 2  # of the JSON files `wam-eval seeds export` writes


def expert_protocol(preset: Preset, code_version: str, build: Mapping[str, str] | None = None) -> str:
    """Digest of what decides whether the expert solves a seed: the embodiment, the planner, the
    task configs, the assets, the RoboTwin code, and the installed `build` ({"sapien": version,
    "planner": the planner's build}: a changed simulator or planner accepts another seed list); not
    the renderer nor the episode count."""
    body: dict[str, Any] = {**PresetParams.of(preset).expert_protocol_body(), "code": code_version}
    if build:
        body["build"] = dict(sorted(build.items()))
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ExpertVerdict:
    solved: bool
    reason: str = ""  # why not: "unstable scene", "plan failed", "check_success false", or what raised
    info: Mapping[str, str] = field(default_factory=dict)  # the episode info play_once returned
    # Set when the check raised instead of the expert deciding ("FileNotFoundError: ..."): the seed is
    # skipped as upstream skips it, but the cause may be this machine (assets, memory), so the stored
    # verdict is marked and can be checked again (store.VERDICT_ERROR).
    error: str = ""


ExpertCheck = Callable[[int], ExpertVerdict]


def judge(setup: Callable[[], None], play: Callable[[], tuple[bool, bool, Mapping[str, str]]],
          unstable: type[BaseException]) -> ExpertVerdict:
    """eval_policy.py's expert check on one seed: `setup` is setup_demo, `play` runs play_once and
    returns (plan_success, check_success, episode info). Upstream skips a seed on UnStableError and on
    any other exception alike; only the unstable scene is a property of the seed, so only it is a
    final rejection, and any other exception becomes an error verdict."""
    stage = "setup failed"
    try:
        setup()
        stage = "expert failed"
        planned, succeeded, info = play()
    except unstable as exc:
        return ExpertVerdict(False, f"unstable scene: {exc}")
    except Exception as exc:  # noqa: BLE001 - upstream skips the seed whatever raised
        message = f"{type(exc).__name__}: {exc}".replace("\n", " ").strip()
        return ExpertVerdict(False, f"{stage}: {message}", error=message)
    solved = bool(planned and succeeded)
    reason = "" if solved else ("plan failed" if not planned else "check_success false")
    return ExpertVerdict(solved, reason, dict(info or {}))


@dataclass(frozen=True)
class SeedRule:
    """How one preset turns verdicts into episodes."""

    start: int  # the first candidate: 100000 * (1 + env_seed)
    chunk: int  # candidates per preparation item
    max_tries: int  # candidates from `start` after which a (task, setting) gives up

    @classmethod
    def of(cls, preset: Preset) -> "SeedRule":
        params = PresetParams.of(preset)
        start = catalog.first_candidate_seed(preset.env_seed, params.seed_stride)
        chunk, tries = params.seed_chunk, params.max_seed_tries
        if chunk < 1 or tries < 1:
            raise UsageError(f"preset {preset.name}: params.seed_chunk and params.max_seed_tries must be at least 1")
        return cls(start, chunk, tries)

    @property
    def end(self) -> int:
        return self.start + self.max_tries


@dataclass(frozen=True)
class SeedList:
    """What the stored verdicts give for one (task, setting) from a start seed."""

    seeds: tuple[int, ...]  # accepted, in order: episode k runs on seeds[k]
    next_unchecked: int  # where the walk stopped: the first seed without a verdict (unless the list is full)


def seed_list(verdicts: Mapping[int, StoredVerdict], start: int, count: int) -> SeedList:
    """Upstream's rule: the first `count` accepted seeds walking up from `start` through checked seeds."""
    seeds: list[int] = []
    seed = start
    while len(seeds) < count and seed in verdicts:
        if verdicts[seed].accepted:
            seeds.append(seed)
        seed += 1
    return SeedList(tuple(seeds), seed)


def needed(keys: Sequence[EpisodeKey]) -> dict[tuple[str, str], int]:
    """Per (task, setting), how many seeds the episodes need (episode k needs k+1)."""
    out: dict[tuple[str, str], int] = {}
    for key in keys:
        group = (key.task, key.setting)
        out[group] = max(out.get(group, 0), key.episode + 1)
    return out


def pending_items(benchmark: str, keys: Sequence[EpisodeKey], rule: SeedRule, protocol: str,
                  store: VerdictView) -> list[PrepItem]:
    """The chunks of candidates still to check so that every (task, setting) of `keys` can reach its
    seed count, as far as the acceptance rate seen so far predicts; urgent ones (the checked prefix's
    frontier, for every task in turn) first. Accepted seeds still missing the expert's episode info
    (imported lists) come as items too: the instruction is phrased from that info."""
    per_group: list[list[PrepItem]] = []
    for (task, setting), count in needed(keys).items():
        verdicts = store.verdicts(benchmark, task, setting, protocol)
        per_group.append(_group_items(task, setting, count, rule, protocol, verdicts))
    # Round robin over groups: each task's frontier before any task's look-ahead.
    out: list[PrepItem] = []
    for depth in range(max((len(g) for g in per_group), default=0)):
        out.extend(g[depth] for g in per_group if depth < len(g))
    return out


def _group_items(task: str, setting: str, count: int, rule: SeedRule, protocol: str,
                 verdicts: Mapping[int, StoredVerdict]) -> list[PrepItem]:
    found = seed_list(verdicts, rule.start, count)
    items: list[PrepItem] = []
    missing_info = [s for s in found.seeds if "info" not in verdicts[s].payload]
    for i in range(0, len(missing_info), rule.chunk):
        part = tuple(missing_info[i:i + rule.chunk])
        items.append(PrepItem(key=f"{task}/{setting}/{protocol}/info/{part[0]}", task=task, setting=setting,
                              protocol=protocol, candidates=part,
                              label=f"{task}/{setting} expert info for imported seeds {_span(part)}"))
    if len(found.seeds) >= count:
        return items
    # Expected acceptances, with the rate seen so far (Laplace's rule: 1/2 before any verdict).
    window = [v.accepted for s, v in verdicts.items() if rule.start <= s < rule.end]
    rate = (sum(window) + 1) / (len(window) + 2)
    expected = float(len(found.seeds))
    first_chunk = (found.next_unchecked - rule.start) // rule.chunk
    for j in range(first_chunk, math.ceil(rule.max_tries / rule.chunk)):
        lo = max(rule.start + j * rule.chunk, found.next_unchecked)
        hi = min(rule.start + (j + 1) * rule.chunk, rule.end)
        todo = tuple(s for s in range(lo, hi) if s not in verdicts)
        expected += sum(1 for s in range(lo, hi) if s in verdicts and verdicts[s].accepted) + rate * len(todo)
        if todo:
            # The key names the chunk, not what is left of it: the same work has the same key.
            items.append(PrepItem(key=f"{task}/{setting}/{protocol}/{rule.start + j * rule.chunk}", task=task,
                                  setting=setting, protocol=protocol, candidates=todo,
                                  label=f"{task}/{setting} seeds {_span(todo)}"))
        if expected >= count:
            break
    return items


def _span(seeds: Sequence[int]) -> str:
    return str(seeds[0]) if len(seeds) == 1 else f"{seeds[0]}-{seeds[-1]}"


def check_chunk(item: PrepItem, check: ExpertCheck) -> list[Verdict]:
    """Run the expert on each candidate of a chunk (in a worker)."""
    out = []
    for seed in item.candidates:
        t0 = time.perf_counter()
        verdict = check(seed)
        payload: dict[str, Any] = {
            "solved": bool(verdict.solved and not verdict.error),
            "reason": verdict.reason if not verdict.solved or verdict.error else "",
            "seconds": round(time.perf_counter() - t0, 3),
        }
        if verdict.error:
            # No "info": an imported seed waiting for its episode info must not take an empty one.
            payload[VERDICT_ERROR] = verdict.error
        else:
            payload["info"] = {str(k): str(v) for k, v in verdict.info.items()}
        out.append(Verdict(candidate=seed, accepted=bool(verdict.solved and not verdict.error), payload=payload))
    return out


def episode_params(benchmark: str, keys: Sequence[EpisodeKey], rule: SeedRule, protocol: str,
                   store: VerdictView) -> EpisodeParams:
    """Each episode's seed and the expert's episode info, or why it has none."""
    params: dict[str, dict[str, Any]] = {}
    problems: dict[str, str] = {}
    counts = needed(keys)
    lists: dict[tuple[str, str], tuple[SeedList, Mapping[int, StoredVerdict]]] = {}
    for (task, setting), count in counts.items():
        verdicts = store.verdicts(benchmark, task, setting, protocol)
        lists[(task, setting)] = (seed_list(verdicts, rule.start, count), verdicts)
    for key in keys:
        found, verdicts = lists[(key.task, key.setting)]
        if key.episode < len(found.seeds):
            seed = found.seeds[key.episode]
            verdict = verdicts[seed]
            if "info" not in verdict.payload:
                problems[key.id] = f"seed {seed} has no expert episode info to phrase the instruction with"
                continue
            params[key.id] = {
                "seed": seed,
                "start_seed": rule.start,
                "expert_info": dict(verdict.payload["info"]),
                "seed_source": verdict.source if verdict.imported else "expert",
            }
            continue
        count = counts[(key.task, key.setting)]
        tried = found.next_unchecked - rule.start
        if found.next_unchecked >= rule.end:
            problems[key.id] = (
                f"the expert solved {len(found.seeds)} of the {tried} seeds from {rule.start} for "
                f"{key.task}/{key.setting}; {count} are needed (max_seed_tries {rule.max_tries} in the preset)"
            )
        else:
            problems[key.id] = (f"seed validation for {key.task}/{key.setting} is incomplete: {len(found.seeds)} of "
                                f"{count} seeds found, {tried} checked from {rule.start}")
    return EpisodeParams(params=params, problems=problems)


# -- import and export -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SeedFileList:
    task: str
    setting: str
    start_seed: int
    seeds: tuple[int, ...]
    infos: Mapping[int, Mapping[str, str]]
    protocol: str | None  # when the file says which expert protocol validated it


def read_seed_file(path: str | Path) -> list[SeedFileList]:
    """Seed lists from one JSON file per task. Accepted shapes:
      {"task": "stack_blocks_two", "setting": "clean", "start_seed": 100000, "seeds": [100000, ...]}
      {"task": ..., "start_seed": 100000, "seeds": {"clean": [...], "randomized": [...]}}
    optionally with "infos" ({seed: info}, or {setting: {seed: info}}: the expert's episode info) and
    "protocol" (the expert protocol it was validated under), as `wam-eval seeds export` writes them.
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"seed file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"seed file {path} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"seed file {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "task" not in data:
        raise UsageError(f"seed file {path}: expected an object with a 'task' field")
    if "start_seed" not in data or "seeds" not in data:
        raise UsageError(f"seed file {path}: needs 'start_seed' and 'seeds'")
    task, start = str(data["task"]), int(data["start_seed"])
    seeds, infos = data["seeds"], data.get("infos", {})
    if isinstance(seeds, list):
        if "setting" not in data:
            raise UsageError(f"seed file {path}: a plain seed list needs a 'setting' field")
        by_setting = {str(data["setting"]): seeds}
        infos = {str(data["setting"]): infos}
    elif isinstance(seeds, dict):
        by_setting = {str(k): v for k, v in seeds.items()}
    else:
        raise UsageError(f"seed file {path}: 'seeds' must be a list or a mapping of setting -> list")
    out = []
    for setting, values in by_setting.items():
        try:
            ints = [int(v) for v in values]
            info = {int(k): {str(a): str(b) for a, b in dict(v).items()} for k, v in dict(infos.get(setting) or {}).items()}
        except (TypeError, ValueError) as exc:
            raise UsageError(f"seed file {path}: {setting}: {exc}") from None
        if ints != sorted(set(ints)) or (ints and ints[0] < start):
            raise UsageError(f"seed file {path}: {setting} seeds must be increasing, unique and >= start_seed {start}")
        out.append(SeedFileList(task, setting, start, tuple(ints), info, data.get("protocol")))
    return out


def load_seed_files(paths: Iterable[str | Path], *, protocol: str, known_tasks: Iterable[str],
                    known_settings: Iterable[str]) -> list[tuple[Path, SeedFileList]]:
    """Read and check seed files for import under `protocol`; nothing is stored."""
    tasks, settings = set(known_tasks), set(known_settings)
    lists: list[tuple[Path, SeedFileList]] = []
    for path in paths:
        for entry in read_seed_file(path):
            if entry.task not in tasks:
                raise UsageError(f"seed file {path}: unknown RoboTwin task {entry.task!r}")
            if entry.setting not in settings:
                raise UsageError(f"seed file {path}: unknown setting {entry.setting!r}; known: {', '.join(sorted(settings))}")
            if entry.protocol is not None and entry.protocol != protocol:
                raise UsageError(f"seed file {path} was validated under expert protocol {entry.protocol}, not this "
                                 f"preset's {protocol}; import it with the preset it was made for")
            lists.append((Path(path), entry))
    return lists


def seed_list_verdicts(lists: Iterable[tuple[Path, SeedFileList]], *, benchmark: str,
                       protocol: str) -> list[VerdictBatch]:
    """Checked seed lists as verdicts under `protocol` (the user vouches that they were validated
    under it), for the caller to store (imported: they replace what was stored): every seed from
    the list's start to its last seed, accepted if listed and rejected otherwise."""
    batches = []
    for path, entry in lists:
        if not entry.seeds:
            continue
        listed = set(entry.seeds)
        verdicts = []
        for seed in range(entry.start_seed, entry.seeds[-1] + 1):
            payload: dict[str, Any] = {"imported": path.name}
            if seed in listed and seed in entry.infos:
                payload["info"] = dict(entry.infos[seed])
            if seed not in listed:
                payload["reason"] = NOT_LISTED
            verdicts.append(Verdict(seed, seed in listed, payload))
        batches.append(VerdictBatch(benchmark, entry.task, entry.setting, protocol, tuple(verdicts),
                                    source=f"imported from {path.name}", imported=True))
    return batches


def import_seed_lists(lists: Iterable[tuple[Path, SeedFileList]], store: VerdictSink, *, benchmark: str,
                      protocol: str) -> None:
    """seed_list_verdicts handed to `store`, one transaction per list."""
    for b in seed_list_verdicts(lists, benchmark=benchmark, protocol=protocol):
        store.put_verdicts(b.benchmark, b.task, b.setting, b.protocol, b.verdicts, source=b.source, imported=b.imported)


def export_seed_lists(store: VerdictView, directory: str | Path, *, benchmark: str, protocol: str, rule: SeedRule,
                      count: int, tasks: Iterable[str], settings: Iterable[str]) -> list[Path]:
    """One JSON file per task with its first `count` seeds per setting (fewer where fewer are known)
    and the expert's episode info: the format import_seed_files reads."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for task in tasks:
        seeds_by_setting: dict[str, list[int]] = {}
        infos: dict[str, dict[str, Any]] = {}
        for setting in settings:
            verdicts = store.verdicts(benchmark, task, setting, protocol)
            found = seed_list(verdicts, rule.start, count)
            if found.seeds:
                seeds_by_setting[setting] = list(found.seeds)
                infos[setting] = {str(s): verdicts[s].payload["info"] for s in found.seeds if "info" in verdicts[s].payload}
        if not seeds_by_setting:
            continue
        path = directory / f"{task}.json"
        body = {"format": FORMAT, "task": task, "start_seed": rule.start, "protocol": protocol,
                "seeds": seeds_by_setting, "infos": infos}
        path.write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
        written.append(path)
    return written
