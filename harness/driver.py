"""The driver: turns an EvalSpec into stored episodes.

It resolves the benchmark, decides the preset before anything is built (harness/run_plan.py; a remote
server's handshake is read for it), stops there when the run is already complete, checks policy and
preset against each other before anything slow starts, builds one executor, and inside a
store session (harness/store_session.py: the run opened and locked, the driver its only writer) skips
what is already stored for the same run identity, has the executor prepare what the rest needs
(harness/preparation.py: RoboTwin's expert-validated seeds), hands it the episodes, and stores each
result as it arrives.
"""

from __future__ import annotations

import dataclasses
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from envs.base import Benchmark
from envs.presets import Preset, describe_layout
from envs.registry import get_benchmark
from envs.versions import package_versions
from harness.api.errors import MissingDependencyError, UsageError
from harness.api.hub_cache import CachedFile, cached, is_hub_ref, parse_ref
from harness.api.types import EpisodeKey, EpisodeParams, EpisodeResult, ErrorSource, ImageLayout, jsonable
from harness.api.version import git_commit, wam_eval_version
from harness.executors import Executor, InProcessExecutor
from harness.preparation import run_preparation
from harness.progress import RunProgress
from harness.recording import RecordSpec
from harness.run_plan import PolicyOutlook, choose_preset, policy_outlook
from harness.spec import EvalSpec, episode_keys, plan_tasks, run_id_for, run_identity
from harness.store import ResultStore, RunManifest
from harness.store_session import StoreSession
from harness.worker import WorkerJob, cameras_for, job_tasks
from policies.base import PolicyContext, PolicyInfo
from policies.fastwam.release import fetch_name_for
from policies.registry import BUILTIN, precheck_policy


@dataclass
class RunOptions:
    store: Path  # the results store (its default, for the CLI and wam_eval alike: harness.store.DEFAULT_STORE)
    rerun_errors: bool = False
    verbose: bool = False
    quiet: bool = False
    # Build the executor; the Ray engine plugs in here. None: in-process.
    executor_factory: Callable[[str, PolicyContext], Executor] | None = None
    label: str | None = None  # the run's name in reports (stored beside it, not part of its identity)
    record: str = "none"  # which episodes keep a video of the frames the policy read: none|failures|all
    video_dir: Path | None = None  # default: videos/ beside the store
    video_fps: int = 5
    force_unlock: bool = False  # take the run's lock from whoever holds it (run --force-unlock)
    # The policy runs on a Ray cluster's nodes (--address): a remote server the driver cannot reach
    # may still be reachable from them, so the handshake is then read where the policy is built.
    policy_on_cluster: bool = False

    def record_spec(self, run_id: str) -> RecordSpec | None:
        if self.record == "none":
            return None
        root = self.video_dir if self.video_dir is not None else Path(self.store).parent / "videos"
        return RecordSpec(mode=self.record, directory=str((root / run_id).resolve()), fps=self.video_fps)


@dataclass
class RunOutcome:
    manifest: RunManifest
    planned: list[EpisodeKey]
    ran: int
    results: list[EpisodeResult] = field(default_factory=list)
    interrupted: bool = False
    prepared_items: int = 0  # preparation items run (and stored) by this invocation

    @property
    def run_id(self) -> str:
        return self.manifest.run_id


def check_policy(info: PolicyInfo, benchmark: Benchmark, preset: Preset) -> None:
    """Refuse a policy that cannot run under this benchmark and protocol, before any episode."""
    expected = benchmark.action_dim_for(preset)
    if info.action_dim != expected:
        raise UsageError(
            f"policy {info.name} produces {info.action_dim}-D actions; {benchmark.name} under {preset.name} takes {expected}-D"
        )
    if preset.action_horizon is not None and info.horizon != preset.action_horizon:
        raise UsageError(
            f"preset {preset.name} expects {preset.action_horizon}-action chunks; policy {info.name} declares "
            f"horizon {info.horizon} (choose another --preset or a matching policy)"
        )
    layout = preset.image_layout
    composed = [t for t in info.input_transforms if t.name == "compose_cameras"]
    if layout.composed and composed:
        declared = ImageLayout.from_mapping({**composed[0].params, "kind": "composed"})
        if declared != layout:
            raise UsageError(
                f"preset {preset.name} feeds the policy {layout.describe()}; policy {info.name} composes "
                f"{declared.describe()}"
            )
    if preset.replan_steps is not None and info.horizon and preset.replan_steps > info.horizon:
        raise UsageError(
            f"preset {preset.name} executes {preset.replan_steps} actions per chunk; policy {info.name} "
            f"returns only {info.horizon}"
        )


def policy_context(benchmark: Benchmark, preset: Preset, *, seed: int, checkpoint: str | None, device: str,
                   options: Mapping[str, str]) -> PolicyContext:
    """What a policy factory is told: the action size, no-op and chunk length of this benchmark
    under this preset, and the user's settings."""
    return PolicyContext(
        benchmark=benchmark.name,
        action_dim=benchmark.action_dim_for(preset),
        noop_action=tuple(float(x) for x in benchmark.noop_action_for(preset)),
        seed=seed,
        action_horizon=preset.action_horizon,
        checkpoint=checkpoint,
        device=device,
        options=dict(options),
        preset=preset,
    )


def policy_seed(spec: EvalSpec, preset: Preset) -> int:
    """The user's --seed, else the protocol's own seed (the Fast-WAM script seeds its sampling noise
    with the same 42 it seeds the env with)."""
    return spec.seed if spec.seed is not None else preset.env_seed


def policy_record(info: PolicyInfo, hub_checkpoint: CachedFile | None = None) -> dict:
    record = jsonable(info)
    if hub_checkpoint is not None:
        # hf://REPO/FILE: which hub file, snapshot and bytes the run used.
        record["checkpoint_hub"] = jsonable(hub_checkpoint)
    return record


def resolve_checkpoint(checkpoint: str | None) -> tuple[str | None, CachedFile | None]:
    """A `hf://REPO/FILE` checkpoint as its copy in the local Hugging Face cache (never downloaded:
    a missing file is one line naming `wam-eval fetch`); any other value as given."""
    if not is_hub_ref(checkpoint):
        return checkpoint, None
    ref = parse_ref(checkpoint)
    found = cached(ref, fetch_hint=fetch_name_for(ref.repo, ref.path))
    return found.local_path, found


def check_checkpoint(spec: EvalSpec) -> None:
    """Refuse a checkpoint that cannot be read, here and in one line, before Ray starts or a policy is
    built (a worker would otherwise fail on it after a cluster start). Only for the built-in policies,
    which read --checkpoint as a file: remote:// takes it as a label, a user's factory as whatever it
    documents, and URLs (hf://) are resolved by the policy."""
    ckpt = spec.checkpoint
    if ckpt is None or spec.policy not in {e.name for e in BUILTIN} or "://" in ckpt:
        return
    path = Path(ckpt).expanduser()
    if not path.exists():
        raise UsageError(f"checkpoint {ckpt} does not exist; give the path of a checkpoint file")
    try:
        if path.is_dir():
            if not any(path.iterdir()):
                raise UsageError(f"checkpoint {ckpt} is an empty folder")
            return
        with open(path, "rb") as f:
            first = f.read(1)
    except PermissionError:
        raise UsageError(f"checkpoint {ckpt} cannot be read (permission denied); check its permissions") from None
    except OSError as exc:
        raise UsageError(f"checkpoint {ckpt} cannot be read ({exc.strerror or exc})") from None
    if not first:
        raise UsageError(f"checkpoint {ckpt} is empty (0 bytes): an interrupted download or copy? fetch it again")


def run_evaluation(spec: EvalSpec, options: RunOptions, *, console: Console | None = None,
                   argv: Sequence[str] = ()) -> RunOutcome:
    """Plan the episodes under the preset decided up front, build one executor, run what is missing
    inside a store session, and return what happened."""
    console = console or Console()
    benchmark = get_benchmark(spec.benchmark)
    # Before anything is built (harness/run_plan.py); for remote:// the server's handshake is read here.
    try:
        outlook = policy_outlook(spec.policy, spec.policy_options)
    except MissingDependencyError:
        if not options.policy_on_cluster:
            raise
        outlook = PolicyOutlook()  # the executor builds the policy on the nodes and learns it there
    preset = choose_preset(spec, benchmark, outlook.preferred_presets.get(benchmark.name))
    keys = episode_keys(plan_tasks(spec, benchmark, preset))  # validates suites, tasks, episodes
    check_checkpoint(spec)
    stacks: dict[str, dict[str, str]] = {}

    def versions(p: Preset) -> dict[str, str]:
        # Once per preset: RoboTwin's opens a render device in a subprocess to name it.
        if p.hash not in stacks:
            stacks[p.hash] = benchmark.versions(p)
        return stacks[p.hash]

    known = known_policy_info(outlook, spec, benchmark, preset)
    done = finished_run(spec, options, benchmark, preset, keys, known=known, versions=versions)
    if done is not None:
        return _nothing_to_do(done, keys, options, console)
    benchmark.check_available(preset)
    checkpoint, hub_checkpoint = resolve_checkpoint(spec.checkpoint)

    def context(p: Preset) -> PolicyContext:
        return policy_context(benchmark, p, seed=policy_seed(spec, p), checkpoint=checkpoint,
                              device=spec.device, options=spec.policy_options)

    precheck_policy(spec.policy, context(preset))  # before Ray starts or model code loads
    factory = options.executor_factory or InProcessExecutor
    executor = factory(spec.policy, context(preset))
    try:
        info = executor.policy_info()
        preferred = info.preferred_presets.get(benchmark.name)
        if not spec.preset and preferred and choose_preset(spec, benchmark, preferred).hash != preset.hash:
            # A policy that names its protocol only once built (a factory without a `preferred_presets`
            # declaration, an entry point's; a remote server that changed since its handshake was read)
            # runs under it: its context comes from the preset, so it is built again. Every policy that
            # declares its protocol, remote servers included, gets it decided above instead.
            preset = choose_preset(spec, benchmark, preferred)
            keys = episode_keys(plan_tasks(spec, benchmark, preset))
            benchmark.check_available(preset)  # another protocol may need other assets or devices
            executor.close()
            executor = factory(spec.policy, context(preset))
            info = executor.policy_info()
        check_policy(info, benchmark, preset)
        manifest = _manifest(spec, benchmark, preset, info, hub_checkpoint, versions(preset))
        job = WorkerJob(
            benchmark=spec.benchmark,  # what get_benchmark resolves in the workers
            preset=preset,
            tasks=job_tasks(t for s in benchmark.suites() for t in s.tasks),
            cameras=cameras_for(preset, info),
            record=options.record_spec(manifest.run_id),
        )
        outcome = RunOutcome(manifest=manifest, planned=keys, ran=0)
        session = StoreSession(options.store, manifest, keys, argv=argv, force_unlock=options.force_unlock,
                               label=options.label)
        try:
            with session:
                _run_in_session(session, executor, job, info, outcome, benchmark=benchmark, options=options,
                                console=console)
                outcome.manifest = session.finish()
        except KeyboardInterrupt:
            if not session.interrupted:
                raise
            outcome.interrupted = True
            console.print(
                f"[yellow]interrupted: {outcome.ran} episode(s) stored this time; run the same command "
                f"again to continue where it stopped[/]"
            )
        return outcome
    finally:
        executor.close()


def _nothing_to_do(done: RunManifest, keys: Sequence[EpisodeKey], options: RunOptions,
                   console: Console) -> RunOutcome:
    if options.label:
        with ResultStore(options.store) as store:
            store.set_label(done.run_id, options.label)
    console.print(f"[bold]run[/] {done.run_id}  (store {options.store})", soft_wrap=True)
    console.print(f"nothing to do: all {len(keys)} planned episode(s) are stored already (Ray not started, "
                  "policy not loaded); report it with `wam-eval report`", soft_wrap=True)
    return RunOutcome(manifest=done, planned=list(keys), ran=0)


def _identity(spec: EvalSpec, preset: Preset, info: PolicyInfo, versions: Mapping[str, str]) -> tuple[str, str]:
    """(run identity, run id) of `spec` run by a policy reporting `info` under `preset` on `versions`."""
    identity = run_identity(policy=info, preset=preset, versions=versions, seed=policy_seed(spec, preset),
                            options=spec.policy_options, checkpoint=spec.checkpoint)
    return identity, run_id_for(policy=info, preset=preset, identity=identity)


def _manifest(spec: EvalSpec, benchmark: Benchmark, preset: Preset, info: PolicyInfo,
              hub_checkpoint: CachedFile | None, versions: Mapping[str, str]) -> RunManifest:
    """The run this invocation belongs to: its identity, and what the store records beside it."""
    identity, run_id = _identity(spec, preset, info, versions)
    # Every package the preset's [simulator] table names is recorded, so the header's warning and
    # the report's note cover each of them (the identity keeps the benchmark's own stack).
    versions = {**versions, **{pkg: v for pkg, v in package_versions(preset.simulator).items() if pkg not in versions}}
    spec_record = {**spec.as_dict(), "checkpoint_file": checkpoint_fingerprint(spec),
                   "wam_eval": {"version": wam_eval_version(), "commit": git_commit()}}
    return RunManifest(
        run_id=run_id,
        identity=identity,
        benchmark=benchmark.name,
        policy_name=info.name,
        checkpoint_digest=info.checkpoint_digest,
        preset_name=preset.name,
        preset_hash=preset.hash,
        preset=preset.content(),
        versions=versions,
        policy=policy_record(info, hub_checkpoint),
        spec=spec_record,
        host=socket.gethostname(),
    )


def _run_in_session(session: StoreSession, executor: Executor, job: WorkerJob, info: PolicyInfo,
                    outcome: RunOutcome, *, benchmark: Benchmark, options: RunOptions, console: Console) -> None:
    """Inside the open invocation: the header, preparation, then every missing episode, each stored
    as it arrives."""
    if options.force_unlock:
        console.print("[yellow]--force-unlock: this run's lock was taken over; should another driver still "
                      "run it, both run the missing episodes (each is stored once, the work is done "
                      "twice)[/]", soft_wrap=True)
    todo = session.to_run(rerun_errors=options.rerun_errors)
    _print_header(console, session.manifest, info, job.preset, planned=len(session.planned), todo=len(todo),
                  store=session.store.path)
    if job.record is not None:
        if not job.cameras:
            console.print(f"[yellow]--record {options.record}: policy {escape(info.name)} reads no "
                          "camera, so there are no frames to record[/]")
        console.print(f"[bold]videos[/] {options.record} -> {escape(str(job.record.directory))}", soft_wrap=True)
    prepared = EpisodeParams()
    if todo:
        prep = run_preparation(benchmark, todo, job.preset, session.store, executor, job, console=console,
                               verbose=options.verbose, quiet=options.quiet)
        prepared, outcome.prepared_items = prep.params, prep.ran
    job = dataclasses.replace(job, episode_params=dict(prepared.params))
    with RunProgress(console, total=len(todo), verbose=options.verbose, quiet=options.quiet) as progress:

        def on_result(result: EpisodeResult) -> None:
            if session.put(result):
                outcome.ran += 1
                outcome.results.append(result)
            else:
                # Another driver stored this episode meanwhile; the store keeps the first result.
                console.print(f"[yellow]{escape(result.key.id)} was stored already; this result is "
                              "dropped[/]", soft_wrap=True)
            progress.update(result)

        runnable = []
        for key in todo:
            if key.id in prepared.problems:
                on_result(_unprepared(key, job.task_for(key), prepared.problems[key.id]))
            else:
                runnable.append(key)
        if runnable:
            executor.run(job, runnable, on_result)


def checkpoint_fingerprint(spec: EvalSpec) -> dict[str, int] | None:
    """Size and modification time of a local checkpoint file: a file replaced under the same path is
    another model, so a stored run matches a new invocation only while these are unchanged."""
    if spec.checkpoint is None or "://" in spec.checkpoint:
        return None
    try:
        st = Path(spec.checkpoint).expanduser().stat()
    except OSError:
        return None
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def known_policy_info(outlook: PolicyOutlook, spec: EvalSpec, benchmark: Benchmark, preset: Preset) -> PolicyInfo | None:
    """The PolicyInfo the policy will report under `preset`, where it is known without building it (a
    remote server's handshake); None otherwise. A refusal the built policy would make (the server
    serves another benchmark or action size) is made here, before Ray starts."""
    if outlook.info_for is None or is_hub_ref(spec.checkpoint):
        return None  # (a hub file named as a remote policy's label is resolved to a path before the build)
    ctx = policy_context(benchmark, preset, seed=policy_seed(spec, preset), checkpoint=spec.checkpoint,
                         device=spec.device, options=spec.policy_options)
    return outlook.info_for(ctx)


# What a stored run's spec must share with a new invocation for the two to be the same run, when the
# policy is a built-in one (its identity then follows from these, the preset and the versions alone).
_SAME_RUN_FIELDS = ("benchmark", "policy", "checkpoint", "policy_options")


def finished_run(spec: EvalSpec, options: RunOptions, benchmark: Benchmark, preset: Preset,
                 keys: Sequence[EpisodeKey], *, known: PolicyInfo | None = None,
                 versions: Callable[[Preset], Mapping[str, str]] | None = None) -> RunManifest | None:
    """The stored run that already holds every planned episode of this invocation, found without
    building the policy or starting Ray; None when anything is left to do or the match is not certain.

    With the policy's PolicyInfo `known` unbuilt (a remote server's handshake), the run identity is
    computed exactly, on this stack's `versions` under the preset (asked only when the store holds a
    run of this policy under this preset: RoboTwin's open a render device). Otherwise only built-in
    policies qualify (their identity follows from the spec, the preset and the simulator versions: a
    user's factory may have changed behind the same name): a local checkpoint while its size and
    modification time are those stored, a `hf://` one while the hub cache holds the same file
    (sha256) at the same snapshot."""
    if not Path(options.store).is_file():
        return None
    if known is not None:
        with ResultStore(options.store) as store:
            candidates = [m for m in store.runs() if (m.benchmark, m.preset_hash, m.policy_name)
                          == (benchmark.name, preset.hash, known.name)]
            if not candidates:
                return None
            identity, run_id = _identity(spec, preset, known, (versions or benchmark.versions)(preset))
            manifest = next((m for m in candidates if m.run_id == run_id and m.identity == identity), None)
            return manifest if manifest is not None and _holds(store, manifest, keys, options) else None
    if spec.policy not in {e.name for e in BUILTIN}:
        return None
    hub = _HubCheckpoint(spec.checkpoint) if is_hub_ref(spec.checkpoint) else None
    if spec.checkpoint and "://" in spec.checkpoint and hub is None:
        return None  # a URL only the policy resolves
    wanted = {k: v for k, v in spec.as_dict().items() if k in _SAME_RUN_FIELDS}
    seed = policy_seed(spec, preset)
    fingerprint = checkpoint_fingerprint(spec)
    stack = benchmark.versions()
    with ResultStore(options.store) as store:
        for manifest in reversed(store.runs()):
            stored = manifest.spec
            if (manifest.benchmark != benchmark.name or manifest.preset_hash != preset.hash
                    or {k: manifest.versions.get(k) for k in stack} != stack  # the identity's stack
                    or {k: stored.get(k) for k in _SAME_RUN_FIELDS} != wanted
                    or (stored.get("seed") if stored.get("seed") is not None else preset.env_seed) != seed
                    or stored.get("checkpoint_file") != fingerprint):
                continue
            # The hub file last: without a recorded sha256 it is hashed, worth it only for a complete run.
            if _holds(store, manifest, keys, options) and (hub is None or hub.same_as(manifest)):
                return manifest
    return None


def _holds(store: ResultStore, manifest: RunManifest, keys: Sequence[EpisodeKey], options: RunOptions) -> bool:
    """Every key stored for the run (error rows counted unless they are to be run again)."""
    have = store.stored_ids(manifest.run_id, errors=False if options.rerun_errors else None)
    return all(k.id in have for k in keys)


class _HubCheckpoint:
    """A `hf://REPO/FILE` checkpoint as the local hub cache holds it, looked up once when first asked.

    A stored run used the same model when the cache holds the file it recorded: same sha256 (the
    identity's checkpoint digest is the file's) at the same snapshot (the files read beside it, such as
    Fast-WAM's dataset statistics, come from that snapshot too). A file missing from the cache is no
    match: the run then stops where it always did, on the line naming `wam-eval fetch`."""

    def __init__(self, ref: str):
        self._ref = ref
        self._found: CachedFile | None | bool = False  # False: not looked up yet

    def _cached(self) -> CachedFile | None:
        if self._found is False:
            try:
                self._found = cached(parse_ref(self._ref))
            except (UsageError, MissingDependencyError):
                self._found = None
        return self._found if isinstance(self._found, CachedFile) else None

    def same_as(self, manifest: RunManifest) -> bool:
        recorded = manifest.policy.get("checkpoint_hub") or {}
        found = self._cached()
        return (found is not None and recorded.get("sha256") == found.sha256
                and recorded.get("revision") == found.revision)


def _unprepared(key: EpisodeKey, task, problem: str) -> EpisodeResult:
    """The error row of an episode its benchmark could not prepare (RoboTwin: too few seeds solved)."""
    return EpisodeResult.failed(key, ErrorSource.PREPARATION, problem, instruction=task.instruction)


def _print_header(console: Console, manifest: RunManifest, info: PolicyInfo, preset: Preset, *, planned: int,
                  todo: int, store: Path) -> None:
    kind = preset.protocol_kind(manifest.versions)
    console.print(f"[bold]run[/] {escape(manifest.run_id)}  (store {escape(str(store))})", soft_wrap=True)
    policy_input = preset.image_layout.describe()
    composed = next((t for t in info.input_transforms if t.name == "compose_cameras"), None)
    if composed is not None and not preset.image_layout.composed:
        policy_input += f"; the policy composes them itself: {describe_layout({**composed.params, 'kind': 'composed'})}"
    console.print(f"[bold]preset[/] {escape(preset.name)} v{preset.version} #{preset.hash} ({kind}); "
                  f"policy input: {escape(policy_input)}", soft_wrap=True)
    oracle = ("  [bold magenta]ORACLE[/]: acts on privileged simulator state; its success rate measures the "
              "harness, not comparable with learned policies") if info.privileged else ""
    if info.trained is None:  # a smoke policy: its "digest" only stands for what changes its actions
        console.print(f"[bold]policy[/] {escape(info.name)} horizon {info.horizon} (no weights){oracle}",
                      soft_wrap=True)
    else:
        weights = ("" if info.trained else "  [yellow]untrained weights[/]") + oracle
        console.print(f"[bold]policy[/] {escape(info.name)} checkpoint {escape(info.checkpoint_digest)}{weights}",
                      soft_wrap=True)
    stack = ", ".join(f"{k} {v}" for k, v in manifest.versions.items())
    console.print(f"[bold]simulator[/] {escape(stack)}", soft_wrap=True)
    differences = preset.simulator_differences(manifest.versions)
    if differences:
        said = ", ".join(f"{pkg} {have} here, {want} in the protocol" for pkg, want, have in differences)
        if preset.official and preset.other_stack_label:
            console.print(f"[yellow]simulator differs from the one {escape(preset.name)}'s authors ran ({escape(said)}): "
                          f"this run is {escape(preset.other_stack_label)}, not the official protocol[/]", soft_wrap=True)
        else:
            pins = " ".join(f"{pkg}=={want}" for pkg, want, _ in differences)
            console.print(f"[yellow]simulator differs from the one {escape(preset.name)}'s authors ran ({escape(said)}): "
                          f"success rates move with it; for a number beside the paper's, pip install {escape(pins)}[/]",
                          soft_wrap=True)
    skipped = planned - todo
    console.print(f"[bold]episodes[/] {planned} planned, {skipped} already stored, {todo} to run")
