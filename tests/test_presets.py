"""Protocol presets are data: values per suite, hashes, diffs, and clear errors for bad files."""

from __future__ import annotations

import dataclasses

import pytest

from envs.presets import builtin_presets, diff_presets, load_preset_file, resolve_preset
from harness.api.errors import UsageError


def test_openpi_libero_values_per_suite():
    p = resolve_preset("openpi-libero")
    assert p.benchmark == "libero"
    expected = {"libero_spatial": 220, "libero_object": 280, "libero_goal": 300, "libero_10": 520, "libero_90": 400}
    for suite, steps in expected.items():
        assert p.max_steps_for(suite, "any_task") == steps
    assert p.warmup_steps == 10
    assert p.warmup_action == (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0)
    assert (p.render.height, p.render.width, p.render.rotate_180) == (256, 256, True)
    assert p.replan_steps == 5
    assert p.success == "any_step"
    assert p.episodes_per_task == 50


def test_lerobot_preset_differs_only_where_lerobot_differs():
    a, b = resolve_preset("openpi-libero"), resolve_preset("lerobot-libero")
    fields = {name for name, _, _ in diff_presets(a, b)}
    assert fields == {"max_steps.libero_spatial", "replan_steps", "env_seed"}
    assert b.max_steps_for("libero_spatial", "t") == 280
    assert b.replan_steps is None


def test_hash_follows_content_not_description():
    p = resolve_preset("openpi-libero")
    assert dataclasses.replace(p, description="other words").hash == p.hash
    assert dataclasses.replace(p, warmup_steps=11).hash != p.hash
    assert dataclasses.replace(p, max_steps={**p.max_steps, "libero_10": 521}).hash != p.hash


def test_task_limit_wins_over_suite_limit():
    p = dataclasses.replace(resolve_preset("openpi-libero"), max_steps={"libero_10": 520, "special_task": 9})
    assert p.max_steps_for("libero_10", "special_task") == 9
    assert p.max_steps_for("libero_10", "other") == 520
    with pytest.raises(UsageError, match="sets no max steps"):
        p.max_steps_for("libero_goal", "other")


def test_builtin_presets_load_and_names_are_unique():
    presets = builtin_presets()
    assert {"openpi-libero", "lerobot-libero"} <= set(presets)
    for name, preset in presets.items():
        assert preset.name == name
        assert len(preset.hash) == 16


def test_unknown_preset_and_bad_files(tmp_path):
    with pytest.raises(UsageError, match="unknown preset 'nope'.*openpi-libero"):
        resolve_preset("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nversion = 1\nbenchmark = 'libero'\nepisodes_per_task = 1\n")
    with pytest.raises(UsageError, match="missing field 'render'"):
        load_preset_file(bad)
    bad.write_text("this is = not = toml")
    with pytest.raises(UsageError, match="not valid TOML"):
        load_preset_file(bad)
    with pytest.raises(UsageError, match="does not exist"):
        load_preset_file(tmp_path / "missing.toml")
    extra = tmp_path / "extra.toml"
    extra.write_text(
        "name = 'x'\nversion = 1\nbenchmark = 'libero'\nepisodes_per_task = 1\nsurprise = 3\n"
        "[render]\ncameras = []\nheight = 1\nwidth = 1\n"
    )
    with pytest.raises(UsageError, match="unknown key surprise; allowed here: name, version"):
        load_preset_file(extra)


def test_preset_file_by_path(short_preset):
    p = resolve_preset(str(short_preset))
    assert p.name == "test-libero-short"
    assert p.max_steps_for("libero_goal", "t") == 12


def test_malformed_cameras_and_unknown_success_rule_are_refused(tmp_path, short_preset):
    text = short_preset.read_text()
    bad = tmp_path / "cams.toml"
    bad.write_text(text.replace('cameras = ["agentview", "robot0_eye_in_hand"]', 'cameras = "agentview"'))
    with pytest.raises(UsageError, match="render.cameras = 'agentview': must be a list of distinct camera names"):
        load_preset_file(bad)
    rule = tmp_path / "rule.toml"
    rule.write_text(text.replace('settings = ["default"]', 'settings = ["default"]\nsuccess = "at_end"'))
    with pytest.raises(UsageError, match="success = 'at_end': must be any_step"):
        load_preset_file(rule)


def test_a_child_preset_names_itself_and_is_not_official_unless_it_says_so(tmp_path):
    """A user who changes one constant of the published protocol must not get its name or its
    'official' mark: the header and the report would present the number as the paper's protocol."""
    unnamed = tmp_path / "unnamed.toml"
    unnamed.write_text('extends = "fastwam-libero"\n[max_steps]\nlibero_spatial = 220\n')
    with pytest.raises(UsageError, match="extends 'fastwam-libero' and must give itself a name of its own"):
        load_preset_file(unnamed)
    same = tmp_path / "same.toml"
    same.write_text('name = "fastwam-libero"\nextends = "fastwam-libero"\n[max_steps]\nlibero_spatial = 220\n')
    with pytest.raises(UsageError, match="must give itself a name of its own"):
        load_preset_file(same)
    child = tmp_path / "child.toml"
    child.write_text('name = "my-fastwam"\nextends = "fastwam-libero"\n[max_steps]\nlibero_spatial = 220\n')
    p = load_preset_file(child)
    assert (p.name, p.official, p.max_steps_for("libero_spatial", "t")) == ("my-fastwam", False, 220)
    assert p.hash != resolve_preset("fastwam-libero").hash
    vouched = tmp_path / "vouched.toml"
    vouched.write_text('name = "my-official"\nextends = "fastwam-libero"\nofficial = true\n')
    assert load_preset_file(vouched).official is True  # the file's own word, recorded with its content


def test_a_file_named_like_a_builtin_preset_must_be_that_preset(tmp_path):
    import tomllib

    from envs.presets import resources

    text = (resources.files("envs.presets") / "openpi-libero.toml").read_text()
    copy = tmp_path / "copy.toml"
    copy.write_text(text)
    assert load_preset_file(copy).hash == resolve_preset("openpi-libero").hash  # an exact copy is that preset
    edited = tmp_path / "edited.toml"
    edited.write_text(text.replace("libero_spatial = 220", "libero_spatial = 280"))
    assert tomllib.loads(edited.read_text())["max_steps"]["libero_spatial"] == 280
    with pytest.raises(UsageError, match="is named 'openpi-libero' like the built-in preset but differs from it"):
        load_preset_file(edited)


# -- the schema: every preset is checked before anything runs ------------------------------------

# The content hashes of the built-in presets: the schema reads them exactly as before, so every
# stored run keeps its identity. A change here must be a deliberate new preset version.
BUILTIN_HASHES = {
    "fastwam-libero": "3f7ed86e1cb89574",
    "fastwam-libero-pro": "d7e4131582e86162",
    "libero-pro": "ed10fe2bffb61c25",
    "openpi-libero-pro": "b92eeeb5300b84c3",
    "fastwam-robotwin": "7e2db218a73319ed",
    "lerobot-libero": "e1c4828d1069ddd1",
    "openpi-libero": "add27f0b5015199b",
    "robotwin2-official": "ba2a96295b65587f",
    "robotwin2-primitives": "ce34d27e68ca94bf",
}


def test_builtin_preset_hashes_are_pinned():
    presets = builtin_presets()
    assert {name: presets[name].hash for name in BUILTIN_HASHES} == BUILTIN_HASHES


def _edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# (what the issue found accepted, how to write it into the test preset, what the one line must say)
BAD_PRESETS = [
    ("replan_steps 0 (ran forever)", ("replan_steps = 4", "replan_steps = 0"),
     r"replan_steps = 0: must be an integer >= 1"),
    ("negative replan_steps", ("replan_steps = 4", "replan_steps = -2"), r"replan_steps = -2: must be an integer >= 1"),
    ("negative max_steps_default (0-step horizons)", ("max_steps_default = 12", "max_steps_default = -5"),
     r"max_steps_default = -5: must be an integer >= 1"),
    ("settings as a string (ran d,e,f,a,u,l,t)", ('settings = ["default"]', 'settings = "default"'),
     r"settings = 'default': must be a non-empty list of setting names"),
    ("max_steps_default as text (traceback)", ("max_steps_default = 12", 'max_steps_default = "twenty"'),
     r"max_steps_default = 'twenty': must be an integer >= 1"),
    ("unknown [render] key", ("rotate_180 = true", "rotate_180 = true\nfov = 60"),
     r"unknown key render.fov; allowed here: cameras, height, width, rotate_180, options"),
    ("render height 0", ("height = 64", "height = 0"), r"render.height = 0: must be an integer from 1 to 4096"),
    ("negative render width", ("width = 64", "width = -64"), r"render.width = -64: must be an integer from 1 to 4096"),
    ("a camera LIBERO lacks", ('"robot0_eye_in_hand"]', '"wrist"]'),
     r"render.cameras: 'wrist' is not a libero camera; allowed: agentview, robot0_eye_in_hand"),
    ("a camera that is not a name", ('"robot0_eye_in_hand"]', '3]'), r"render.cameras\[1\] = 3: must be a list of"),
    ("negative warm-up", ("warmup_steps = 2", "warmup_steps = -1"), r"warmup_steps = -1: must be an integer from 0"),
    ("negative episodes", ("episodes_per_task = 50", "episodes_per_task = -3"),
     r"episodes_per_task = -3: must be an integer from 1"),
    ("zero episodes", ("episodes_per_task = 50", "episodes_per_task = 0"),
     r"episodes_per_task = 0: must be an integer from 1"),
    ("a 2-value warm-up action", ("warmup_action = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]", "warmup_action = [0.0, -1.0]"),
     r"warmup_action has 2 value\(s\); libero under this preset takes 7-D actions"),
    ("a NaN in the warm-up action", ("-1.0]", "nan]"), r"warmup_action\[6\] = nan: must be a list of finite numbers"),
    ("an unknown top-level key", ("version = 1", "version = 1\nreplan = 5"), r"unknown key replan; allowed here: name"),
    ("a float version", ("version = 1", "version = 1.5"), r"version = 1.5: must be an integer >= 1"),
    ("a setting LIBERO lacks", ('settings = ["default"]', 'settings = ["clean"]'),
     r"settings: 'clean' is not a libero setting; allowed: default"),
    ("params LIBERO does not read", ("rotate_180 = true", "rotate_180 = true\n[params]\nseed_chunk = 2"),
     r"params.unknown key seed_chunk; allowed here: instruction"),
    ("an instruction source LIBERO lacks", ("rotate_180 = true", 'rotate_180 = true\n[params]\ninstruction = "file"'),
     r"params.instruction = 'file': must be task or bddl"),
    ("an unknown benchmark", ('benchmark = "libero"', 'benchmark = "libro"'),
     r"benchmark: unknown benchmark 'libro'; known: libero, robotwin"),
    ("a success rule the loop does not run", ('settings = ["default"]', 'settings = ["default"]\nsuccess = "final"'),
     r"success = 'final': must be any_step"),
    ("a seed outside 32 bits", ("env_seed = 7", "env_seed = -7"), r"env_seed = -7: must be an integer from 0 to 4294967295"),
    ("more actions per chunk than the chunk holds", ("replan_steps = 4", "replan_steps = 4\naction_horizon = 2"),
     r"replan_steps = 4 exceeds action_horizon = 2"),
    ("a composed image naming an unrendered camera",
     ("rotate_180 = true", ('rotate_180 = true\n[image_layout]\nkind = "composed"\nheight = 64\nwidth = 64\n'
                            'tiles = [{ camera = "frontview", top = 0, left = 0, height = 64, width = 64 }]')),
     r"image_layout tiles name frontview, which render.cameras does not render"),
    ("an unknown key in a tile",
     ("rotate_180 = true", ('rotate_180 = true\n[image_layout]\nkind = "composed"\nheight = 64\nwidth = 64\n'
                            'tiles = [{ camera = "agentview", top = 0, left = 0, height = 64, width = 64, zoom = 2 }]')),
     r"unknown key image_layout.tiles\[0\].zoom; allowed here: camera, top, left, height, width"),
    ("an unknown layout kind", ("rotate_180 = true", 'rotate_180 = true\n[image_layout]\nkind = "tiled"'),
     r"image_layout.kind = 'tiled': must be per_camera or composed"),
]


@pytest.mark.parametrize("case,edit,message", BAD_PRESETS, ids=[c[0] for c in BAD_PRESETS])
def test_a_bad_preset_is_one_line_naming_the_field(tmp_path, short_preset, case, edit, message):
    bad = tmp_path / "bad.toml"
    bad.write_text(_edit(short_preset.read_text(), *edit))
    with pytest.raises(UsageError, match=message) as caught:
        load_preset_file(bad)
    assert "\n" not in str(caught.value) and str(bad) in str(caught.value)


@pytest.mark.parametrize("edit, message", [
    (("replan_steps = 4", "replan_steps = 0"), "replan_steps = 0: must be an integer >= 1"),
    # The schema alone refuses it: LIBERO's check_available no longer repeats the check.
    (("rotate_180 = true", 'rotate_180 = true\n[params]\ninstruction = "file"'),
     "params.instruction = 'file': must be task or bddl"),
])
def test_a_bad_preset_is_refused_by_run_before_the_store_exists(tmp_path, short_preset, capsys, edit, message):
    from harness.cli import main

    bad = tmp_path / "bad.toml"
    bad.write_text(_edit(short_preset.read_text(), *edit))
    store = tmp_path / "store.sqlite"
    code = main(["run", "--policy", "noop", "--preset", str(bad), "--workers", "0", "--suite", "libero_goal",
                 "--tasks", "0", "--episodes", "1", "--store", str(store)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not store.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml", short_preset.name]


BAD_CHILDREN = [
    ("extends that is not a name", 'extends = 5\nname = "c"', r"extends = 5: must be the name of a built-in preset; known: "),
    ("extends of an unknown preset", 'extends = "openpi-libro"\nname = "c"', r"extends unknown preset 'openpi-libro'"),
    ("an unknown key beside extends", 'extends = "openpi-libero"\nname = "c"\nrepaln_steps = 3',
     r"unknown key repaln_steps"),
    ("a bad value beside extends", 'extends = "openpi-libero"\nname = "c"\nreplan_steps = 0',
     r"replan_steps = 0: must be an integer >= 1"),
    ("an unknown nested key beside extends", 'extends = "openpi-libero"\nname = "c"\n[render]\nheigth = 128',
     r"unknown key render.heigth"),
    ("a table replaced by a value", 'extends = "openpi-libero"\nname = "c"\nrender = 5', r"render = 5: must be a table"),
    ("a RoboTwin params key misspelt", 'extends = "robotwin2-official"\nname = "c"\n[params]\nseed_chunks = 2',
     r"params.unknown key seed_chunks; allowed here: embodiment, action_dim"),
    ("a RoboTwin planner it lacks", 'extends = "robotwin2-official"\nname = "c"\n[params]\nplanner = "rrt"',
     r"params.planner = 'rrt': must be curobo or mplib"),
    ("a RoboTwin camera it lacks", 'extends = "robotwin2-official"\nname = "c"\n[render]\ncameras = ["agentview"]',
     r"render.cameras: 'agentview' is not a robotwin camera; allowed: head_camera"),
    ("a RoboTwin warm-up action of LIBERO's size",
     'extends = "robotwin2-official"\nname = "c"\nwarmup_action = [0, 0, 0, 0, 0, 0, -1]',
     r"warmup_action has 7 value\(s\); robotwin under this preset takes 14-D actions"),
    ("a RoboTwin shader it lacks", 'extends = "robotwin2-official"\nname = "c"\n[render.options]\nshader = "path"',
     r"render.options.shader = 'path': must be rt, default or minimal"),
]


@pytest.mark.parametrize("case,text,message", BAD_CHILDREN, ids=[c[0] for c in BAD_CHILDREN])
def test_a_bad_child_preset_is_one_line(tmp_path, case, text, message):
    bad = tmp_path / "child.toml"
    bad.write_text(text + "\n")
    with pytest.raises(UsageError, match=message) as caught:
        load_preset_file(bad)
    assert "\n" not in str(caught.value)
