"""Protocol presets: the named, versioned constants that make a success rate mean something.

A preset is data (a TOML file in this package, or one the user points to), loaded into a frozen
`Preset`. Its full content and hash are stored with every run, so two numbers are only compared
when they were produced under the same protocol.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Mapping

from envs.presets.schema import PresetRules, validate_preset
from harness.api.errors import UsageError
from harness.api.protocol import UNPINNED as UNPINNED  # re-exported: presets name it in [simulator]
from harness.api.protocol import ProtocolStack
from harness.api.types import ImageLayout, jsonable

# How an episode is judged (schema.SUCCESS_RULES): the rollout loop implements one rule, success as soon as
# the benchmark's check holds after any step (LIBERO, RoboTwin and every protocol here use it). A
# preset naming another rule is refused by the schema rather than silently judged by this one.


@dataclass(frozen=True)
class RenderSpec:
    """What the env renders: camera names, size, and orientation before any policy transform."""

    cameras: tuple[str, ...]
    height: int
    width: int
    # LIBERO renders in OpenGL convention (upside down); the common protocols rotate by 180 degrees.
    rotate_180: bool = False
    # Benchmark-specific renderer choices (RoboTwin: rasterizer vs ray tracer, shadows).
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Preset:
    name: str
    version: int
    benchmark: str
    description: str
    source: str  # where the constants come from (a script, a paper, a config file)
    official: bool  # reproduces a published protocol; False for stand-ins such as CI-sized presets
    max_steps: Mapping[str, int]  # keyed by task name or suite name; the task wins
    max_steps_default: int | None
    warmup_steps: int  # no-op steps after reset, before the policy's first call
    warmup_action: tuple[float, ...] | None  # None = the benchmark's own no-op action
    replan_steps: int | None  # actions executed per chunk; None = the whole chunk (or chunk.execute)
    action_horizon: int | None  # chunk length the protocol expects; None = whatever the policy says
    render: RenderSpec
    episodes_per_task: int
    env_seed: int
    settings: tuple[str, ...]
    success: str = "any_step"  # success if check_success is true after any env step
    # The suites a run covers when the user names none; empty: the suites of the paper's table.
    suites: tuple[str, ...] = ()
    # What the protocol feeds the policy: each rendered camera as it is, or one composed image (in
    # the file: {"kind": "composed", key, height, width, tiles: [{camera, top, left, height, width}]}).
    # A policy that composes cameras itself must compose them exactly so (checked before a run).
    image_layout: ImageLayout = field(default_factory=ImageLayout)
    params: Mapping[str, Any] = field(default_factory=dict)  # benchmark-specific constants
    # The simulator stack the protocol's authors ran, keyed as the benchmark records its versions
    # (LIBERO: `mujoco`; RoboTwin: `robotwin_code`, `sapien`, ...; LIBERO numbers move with the MuJoCo
    # version). Advice, not behaviour: left out of the hash; a run on another version is told so at
    # its start and marked in reports. UNPINNED names a package without comparing it.
    simulator: Mapping[str, str] = field(default_factory=dict)
    # What an official protocol becomes on another stack than `simulator`, said in place of "official
    # protocol" in the run header and the report (RoboTwin on rlinf-robotwin-runtime: "same tasks,
    # different seed sample and simulator build"). Empty: still "official protocol", with the warning.
    # Advice like `simulator`: outside the hash.
    other_stack_label: str = ""

    @property
    def stack(self) -> ProtocolStack:
        return ProtocolStack(self.official, self.simulator, self.other_stack_label)

    def simulator_differences(self, versions: Mapping[str, str]) -> list[tuple[str, str, str]]:
        """(package, the protocol's version, this run's version) wherever they differ."""
        return self.stack.simulator_differences(versions)

    def protocol_kind(self, versions: Mapping[str, str]) -> str:
        """'official protocol', 'NOT an official protocol', or the other_stack_label on another stack."""
        return self.stack.protocol_kind(versions)

    def max_steps_for(self, suite: str, task: str, limits_from: str = "") -> int:
        """The task's entry, else its suite's, else (a perturbed suite) the suite it perturbs, else
        the default."""
        for name in (task, suite, limits_from):
            if name in self.max_steps:
                return int(self.max_steps[name])
        if self.max_steps_default is None:
            raise UsageError(
                f"preset {self.name!r} sets no max steps for suite {suite!r} / task {task!r}; "
                "add it to the preset's [max_steps] table"
            )
        return int(self.max_steps_default)

    def content(self) -> dict[str, Any]:
        """The preset as plain JSON-able data, description included, in field order."""
        return {f.name: jsonable(getattr(self, f.name)) for f in fields(self)}

    @property
    def hash(self) -> str:
        """Content hash over everything that changes behaviour (the description and the simulator
        advice do not)."""
        body = {k: v for k, v in self.content().items() if k not in ("description", "simulator", "other_stack_label")}
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def preset_from_mapping(data: Mapping[str, Any], *, origin: str = "<mapping>", benchmark_rules: bool = True) -> Preset:
    """A preset from its flattened content, checked by the schema (envs/presets/schema.py) and, with
    benchmark_rules, by its benchmark's rules. A stored preset is read back without them: it was
    checked when its run started, and a report must not need the benchmark's adapter."""
    model = validate_preset(data, origin, _rules_for(data.get("benchmark"), origin) if benchmark_rules else None)
    render = model.render
    return Preset(
        name=model.name,
        version=model.version,
        benchmark=model.benchmark,
        description=model.description,
        source=model.source,
        official=model.official,
        max_steps=dict(model.max_steps),
        max_steps_default=model.max_steps_default,
        warmup_steps=model.warmup_steps,
        warmup_action=tuple(model.warmup_action) if model.warmup_action is not None else None,
        replan_steps=model.replan_steps,
        action_horizon=model.action_horizon,
        render=RenderSpec(
            cameras=tuple(render.cameras),
            height=render.height,
            width=render.width,
            rotate_180=render.rotate_180,
            options=dict(data["render"].get("options", {})),  # as written: the hash covers the file's values
        ),
        episodes_per_task=model.episodes_per_task,
        env_seed=model.env_seed,
        settings=tuple(model.settings),
        success=model.success,
        suites=tuple(model.suites),
        image_layout=ImageLayout.from_mapping(model.image_layout.model_dump()),
        params=dict(data.get("params", {})),
        simulator=dict(model.simulator),
        other_stack_label=model.other_stack_label,
    )


def _rules_for(benchmark: Any, origin: str) -> PresetRules | None:
    """The benchmark's own preset rules (camera names, settings, action size, params), if it declares any."""
    from envs.registry import benchmark_class

    if not isinstance(benchmark, str) or not benchmark:
        return None  # the schema names the field
    try:
        cls = benchmark_class(benchmark)
    except UsageError as exc:
        raise UsageError(f"preset {origin}: benchmark: {exc}") from None
    return getattr(cls, "preset_rules", None)


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value in `override` replaces the base's."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _resolve_extends(
    data: Mapping[str, Any], raw: Mapping[str, Mapping[str, Any]], origin: str, seen: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A preset may say `extends = "other"`: it is the other preset with this file's fields on top.
    The result is flattened, so the stored content and hash never depend on another file.

    What names the protocol is not inherited: a changed protocol under its parent's name (or its
    parent's `official` mark) would pass for the published one in headers and reports. So a child
    names itself, and is official only where it says so."""
    parent = data.get("extends")
    body = {k: v for k, v in data.items() if k != "extends"}
    if parent is None:
        return body
    if not isinstance(parent, str) or not parent:
        raise UsageError(
            f"preset {origin}: extends = {parent!r}: must be the name of a built-in preset; known: "
            f"{', '.join(sorted(raw))}"
        )
    if parent in seen:
        raise UsageError(f"preset {origin}: 'extends' loops through {' -> '.join((*seen, parent))}")
    if parent not in raw:
        raise UsageError(f"preset {origin} extends unknown preset {parent!r}; known: {', '.join(sorted(raw))}")
    if not body.get("name") or body.get("name") == parent:
        raise UsageError(
            f"preset {origin} extends {parent!r} and must give itself a name of its own "
            f'(name = "my-{parent}"): a changed protocol cannot pass under its parent\'s name'
        )
    base = _resolve_extends(raw[parent], raw, parent, (*seen, parent))
    base.pop("official", None)
    return _merge(base, body)


def _read_toml(text: str, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"preset file {origin} is not valid TOML: {exc}") from None


def _builtin_raw() -> dict[str, dict[str, Any]]:
    raw: dict[str, dict[str, Any]] = {}
    for entry in sorted(resources.files(__package__).iterdir(), key=lambda p: p.name):
        if entry.name.endswith(".toml"):
            data = _read_toml(entry.read_text(), entry.name)
            name = str(data.get("name", entry.name))
            if name in raw:
                raise ValueError(f"two built-in presets are named {name!r}")
            raw[name] = data
    return raw


def load_preset_file(path: str | Path) -> Preset:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"preset file {path} does not exist") from None
    except IsADirectoryError:
        raise UsageError(f"preset file {path} is a directory; give a .toml file or a built-in preset's name") from None
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"preset file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); TOML files are UTF-8"
        ) from None
    except OSError as exc:
        raise UsageError(f"preset file {path} cannot be read ({exc.strerror or exc})") from None
    data = _read_toml(text, str(path))
    preset = preset_from_mapping(_resolve_extends(data, _builtin_raw(), str(path)), origin=str(path))
    builtin = builtin_presets().get(preset.name)
    if builtin is not None:
        if builtin.hash != preset.hash:
            raise UsageError(
                f"preset file {path} is named {preset.name!r} like the built-in preset but differs from it "
                f'(#{preset.hash} vs #{builtin.hash}); give it a name of its own (with `extends = "{preset.name}"`, '
                "only the fields that change need stating)"
            )
    return preset


def builtin_presets() -> dict[str, Preset]:
    """The presets shipped with wam-eval, by name."""
    raw = _builtin_raw()
    return {name: preset_from_mapping(_resolve_extends(data, raw, name), origin=name) for name, data in raw.items()}


def resolve_preset(name_or_path: str, *, extra_files: Iterable[str | Path] = ()) -> Preset:
    """A built-in preset by name, or a preset TOML file by path."""
    if name_or_path.endswith(".toml"):
        return load_preset_file(name_or_path)
    presets = builtin_presets()
    for path in extra_files:
        preset = load_preset_file(path)
        presets[preset.name] = preset
    try:
        return presets[name_or_path]
    except KeyError:
        raise UsageError(
            f"unknown preset {name_or_path!r}; known: {', '.join(sorted(presets))} (or give a path to a .toml file)"
        ) from None


def describe_layout(layout: ImageLayout | Mapping[str, Any]) -> str:
    """One line for humans: 'composed 224x448: agentview@(0,0) 224x224, robot0_eye_in_hand@(0,224) 224x224'."""
    if not isinstance(layout, ImageLayout):
        layout = ImageLayout.from_mapping(layout)
    return layout.describe()


def diff_presets(a: Preset, b: Preset) -> list[tuple[str, Any, Any]]:
    """Fields whose values differ, flattened to dotted paths (max_steps.libero_spatial, render.height)."""
    skip = {"name", "description", "source", "official", "version", "simulator", "other_stack_label"}

    def flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                flatten(f"{prefix}.{key}" if prefix else str(key), sub, out)
        else:
            out[prefix] = value

    def fields_of(p: Preset) -> dict[str, Any]:
        content = {k: v for k, v in p.content().items() if k not in skip}
        content["image_layout"] = describe_layout(p.image_layout)  # one readable row, not five
        out: dict[str, Any] = {}
        flatten("", content, out)
        return out

    fa, fb = fields_of(a), fields_of(b)
    return [(key, fa.get(key), fb.get(key)) for key in sorted(set(fa) | set(fb)) if fa.get(key) != fb.get(key)]
