"""A RoboTwin preset's [params] reach the benchmark through the schema's one parse (PresetParams.of)."""

from __future__ import annotations

import dataclasses

import pytest

from envs.presets import builtin_presets
from envs.robotwin import catalog
from envs.robotwin.params import PresetParams
from harness.api.errors import UsageError


@pytest.fixture(scope="module")
def official():
    return builtin_presets()["robotwin2-official"]


def test_the_official_preset_gives_its_written_values(official):
    p = PresetParams.of(official)
    assert p.embodiment == ("aloha-agilex",) and p.arms == ("aloha-agilex",)
    assert (p.action_dim, p.planner, p.assets, p.instruction_type) == (14, "curobo", "official", "unseen")
    assert (p.seed_stride, p.seed_chunk, p.max_seed_tries, p.instruction_candidates) == (100000, 5, 2000, 100)
    assert dict(p.task_configs) == {"clean": "demo_clean", "randomized": "demo_randomized"}
    assert p.tasks is None and dict(p.standin) == {} and not p.standin_assets
    assert dict(p.written) == dict(official.params)


def test_keys_left_out_take_the_schema_defaults_and_digests_see_only_what_was_written(official):
    p = PresetParams.of(dataclasses.replace(official, params={"assets": "standin", "standin": {"gripper_bias": 0.1}}))
    assert p.standin_assets and p.planner == "curobo" and p.seed_chunk == 5
    assert dict(p.task_configs) == dict(catalog.DEFAULT_TASK_CONFIGS)
    assert dict(p.standin) == {"robot_base_y": -0.65, "gripper_bias": 0.1}  # the schema's default filled in
    body = p.expert_protocol_body()
    assert body["standin"] == {"gripper_bias": 0.1} and body["planner"] is None  # as written


@pytest.mark.parametrize(
    "params, field",
    [
        ({"planner": "rrt"}, "params.planner"),
        ({"seed_chunk": "5"}, "params.seed_chunk"),  # the schema is strict: no string for a number
        ({"embodiment": ["a", "b"]}, "params.embodiment"),
        ({"expert_check": False}, "params.unknown key expert_check"),  # no longer a key: it was never read
    ],
)
def test_a_wrong_value_is_one_line_naming_the_key(official, params, field):
    with pytest.raises(UsageError, match=f"^preset robotwin2-official: {field}") as err:
        PresetParams.of(dataclasses.replace(official, params=params))
    assert "\n" not in str(err.value)
