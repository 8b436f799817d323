"""The schema every preset passes before anything runs: one typed model, unknown keys refused at every
level, types and ranges checked, each failure one line naming the field and what it may be.

Fields a benchmark owns (its camera names, settings, action size, `[params]` and `[render.options]`)
are checked against the `PresetRules` its adapter declares (`Benchmark.preset_rules`), so the
generic model stays free of LIBERO or RoboTwin facts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from harness.api.errors import UsageError

SUCCESS_RULES = ("any_step",)  # the one rule the rollout loop implements (see envs/presets)
MAX_PIXELS = 4096  # per image side: beyond any camera in these benchmarks, and a typo's guard
MAX_SEED = 2**32 - 1  # numpy and the simulators take 32-bit seeds

# Words for what a value may be, one per field, used in the error line.
PositiveInt = Annotated[int, Field(ge=1)]
Pixels = Annotated[int, Field(ge=1, le=MAX_PIXELS)]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")]


class Strict(BaseModel):
    """Exact TOML types (no "20" for 20, no true for 1), no key the model does not name."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class RenderModel(Strict):
    cameras: list[Name] = Field(description="a list of distinct camera names (may be empty: no frames)")
    height: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")
    width: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")
    rotate_180: bool = Field(False, description="true or false")
    options: dict[Name, bool | int | FiniteFloat | str] = Field(
        default_factory=dict, description="a table of renderer options the benchmark names"
    )

    @model_validator(mode="after")
    def _distinct(self) -> RenderModel:
        if len(set(self.cameras)) != len(self.cameras):
            raise ValueError(f"render.cameras lists a camera twice ({self.cameras}); name each camera once")
        return self


class PerCameraLayout(Strict):
    kind: Literal["per_camera"] = Field(description="per_camera or composed")


class TileModel(Strict):
    camera: Name = Field(description="one of render.cameras")
    top: int = Field(ge=0, description="an integer >= 0 (pixels)")
    left: int = Field(ge=0, description="an integer >= 0 (pixels)")
    height: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")
    width: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")


class ComposedLayout(Strict):
    kind: Literal["composed"] = Field(description="per_camera or composed")
    key: Name = Field("image", description="the image's name in the observation")
    height: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")
    width: Pixels = Field(description=f"an integer from 1 to {MAX_PIXELS} (pixels)")
    tiles: list[TileModel] = Field(min_length=1, description="a non-empty list of {camera, top, left, height, width}")

    @model_validator(mode="after")
    def _inside(self) -> ComposedLayout:
        for t in self.tiles:
            if t.top + t.height > self.height or t.left + t.width > self.width:
                raise ValueError(
                    f"image_layout tile {t.camera} falls outside {self.height}x{self.width}; "
                    "each tile must lie inside the composed image"
                )
        return self


Layout = Annotated[PerCameraLayout | ComposedLayout, Field(discriminator="kind")]


class PresetModel(Strict):
    """A preset after `extends` is resolved: the content that is hashed and stored with a run."""

    name: Name = Field(description="a name of 1 to 200 printable characters")
    version: PositiveInt = Field(description="an integer >= 1")
    benchmark: Name = Field(description="a benchmark name (libero, robotwin, or module:Class)")
    description: str = Field("", description="text")
    source: str = Field("", description="text")
    official: bool = Field(False, description="true or false")
    max_steps: dict[Name, PositiveInt] = Field(
        default_factory=dict, description="a table of suite or task name = an integer >= 1 (policy steps)"
    )
    max_steps_default: PositiveInt | None = Field(None, description="an integer >= 1 (policy steps), or left out")
    warmup_steps: int = Field(0, ge=0, le=100_000, description="an integer from 0 to 100000")
    warmup_action: list[FiniteFloat] | None = Field(
        None, min_length=1, description="a list of finite numbers, one per action dimension, or left out"
    )
    replan_steps: PositiveInt | None = Field(
        None, description="an integer >= 1 (actions executed per chunk), or left out (the whole chunk)"
    )
    action_horizon: PositiveInt | None = Field(
        None, description="an integer >= 1 (chunk length), or left out (the policy's own)"
    )
    render: RenderModel = Field(description="a table with cameras, height, width (rotate_180, options)")
    episodes_per_task: int = Field(ge=1, le=1_000_000, description="an integer from 1 to 1000000")
    env_seed: int = Field(0, ge=0, le=MAX_SEED, description=f"an integer from 0 to {MAX_SEED}")
    settings: list[Name] = Field(["default"], min_length=1, description="a non-empty list of setting names")
    success: Literal["any_step"] = Field("any_step", description=" or ".join(SUCCESS_RULES))
    suites: list[Name] = Field(default_factory=list, description="a list of suite names")
    image_layout: Layout = Field(
        default_factory=lambda: PerCameraLayout(kind="per_camera"),
        description="a table with kind = per_camera or composed (key, height, width, tiles)",
    )
    params: dict[Name, Any] = Field(default_factory=dict, description="a table the benchmark names")
    simulator: dict[Name, str] = Field(default_factory=dict, description="a table of package = version string")
    other_stack_label: str = Field("", description="text: what a run on another stack than [simulator] is")

    @model_validator(mode="after")
    def _consistent(self) -> PresetModel:
        for field_name in ("settings", "suites"):
            values = getattr(self, field_name)
            if len(set(values)) != len(values):
                raise ValueError(f"{field_name} lists a name twice ({values}); name each once")
        replan, horizon = self.replan_steps, self.action_horizon
        if replan is not None and horizon is not None and replan > horizon:
            raise ValueError(
                f"replan_steps = {self.replan_steps} exceeds action_horizon = {self.action_horizon}; "
                "a chunk cannot execute more actions than it holds"
            )
        if isinstance(self.image_layout, ComposedLayout):
            missing = [t.camera for t in self.image_layout.tiles if t.camera not in self.render.cameras]
            if missing:
                raise ValueError(
                    f"image_layout tiles name {', '.join(missing)}, which render.cameras does not "
                    f"render; allowed: {', '.join(self.render.cameras) or 'none'}"
                )
        return self


@dataclass(frozen=True)
class PresetRules:
    """What a benchmark accepts in a preset beyond the generic schema."""

    cameras: tuple[str, ...]
    settings: tuple[str, ...]
    action_dim: Callable[[Mapping[str, Any]], int]  # from the preset's params
    params: type[BaseModel] | None = None  # None: the benchmark reads no [params]
    render_options: type[BaseModel] | None = None  # None: no [render.options]


def validate_preset(data: Mapping[str, Any], origin: str, rules: PresetRules | None) -> PresetModel:
    """The checked preset, or a UsageError of one line naming the first field that is wrong."""
    try:
        model = PresetModel.model_validate(dict(data))
    except ValidationError as exc:
        raise UsageError(f"preset {origin}: {describe_error(exc, PresetModel)}") from None
    if rules is not None:
        check_rules(model, origin, rules)
    return model


def check_rules(model: PresetModel, origin: str, rules: PresetRules) -> None:
    def refuse(what: str) -> UsageError:
        return UsageError(f"preset {origin}: {what}")

    for camera in model.render.cameras:
        if camera not in rules.cameras:
            raise refuse(
                f"render.cameras: {camera!r} is not a {model.benchmark} camera; allowed: {', '.join(rules.cameras)}"
            )
    for setting in model.settings:
        if setting not in rules.settings:
            raise refuse(
                f"settings: {setting!r} is not a {model.benchmark} setting; allowed: {', '.join(rules.settings)}"
            )
    for table, schema, where in (
        (model.params, rules.params, "params"),
        (model.render.options, rules.render_options, "render.options"),
    ):
        if schema is None:
            if table:
                raise refuse(
                    f"{where}: {model.benchmark} reads no [{where}] table; remove "
                    f"{', '.join(repr(k) for k in sorted(table))}"
                )
            continue
        try:
            schema.model_validate(dict(table))
        except ValidationError as exc:
            raise refuse(f"{where}.{describe_error(exc, schema)}") from None
    if model.warmup_action is not None:
        dim = rules.action_dim(model.params)
        if len(model.warmup_action) != dim:
            raise refuse(
                f"warmup_action has {len(model.warmup_action)} value(s); {model.benchmark} under this "
                f"preset takes {dim}-D actions (give {dim} numbers, or leave it out for the benchmark's "
                "no-op)"
            )


# -- one line per error ----------------------------------------------------------------------------


def describe_error(exc: ValidationError, model: type[BaseModel]) -> str:
    """The first error as 'field = value: what it may be', plus how many more there are."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    loc = [part for part in first["loc"] if part not in ("per_camera", "composed")]
    path = _path(loc)
    kind = first["type"]
    if kind == "extra_forbidden":
        parent = _model_at(model, loc[:-1])
        allowed = ", ".join(parent.model_fields) if parent is not None else "none"
        if parent is PresetModel:
            allowed += " (and extends, in a file)"
        return f"unknown key {path}; allowed here: {allowed}{more}"
    if kind == "missing":
        return f"missing field {path!r} ({_allowed(model, loc)}){more}"
    if kind == "value_error":
        return f"{first['ctx']['error']!s}{more}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        tag = first.get("ctx", {}).get("tag")
        return f"{path}.kind = {_show(tag)}: must be per_camera or composed{more}"
    return f"{path} = {_show(first['input'])}: must be {_allowed(model, loc)}{more}"


def _path(loc: list[Any]) -> str:
    """A dotted path; a key that is not a plain name is quoted, so that the line stays one line."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        name = str(part) if re.fullmatch(r"[A-Za-z0-9_+@-]+", str(part)) else repr(str(part))
        out += f".{name}" if out else name
    return out or "(the preset)"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _allowed(model: type[BaseModel], loc: list[Any]) -> str:
    """The description of the innermost named field on the path."""
    current: Any = model
    description = "as the schema says"
    for part in loc:
        if isinstance(part, int) or not (isinstance(current, type) and issubclass(current, BaseModel)):
            continue
        info = current.model_fields.get(part)
        if info is None:
            break
        description = info.description or description
        current = _inner_model(info.annotation)
    return description


def _model_at(model: type[BaseModel], loc: list[Any]) -> type[BaseModel] | None:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)) or part not in current.model_fields:
            return None
        current = _inner_model(current.model_fields[part].annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _inner_model(annotation: Any) -> Any:
    """The model inside list[M], M | None, Annotated[M, ...]; for a union of models (image_layout),
    the composed one, whose fields are the superset."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) is not None or get_args(annotation):
        found = [_inner_model(arg) for arg in get_args(annotation)]
        models = [m for m in found if isinstance(m, type) and issubclass(m, BaseModel)]
        if models:
            return max(models, key=lambda m: len(m.model_fields))
    return None
