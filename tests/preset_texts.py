"""Preset files the tests share: one text, so that a change to the preset format is made once."""

from __future__ import annotations

# openpi's LIBERO structure with tiny limits and frames, so that an episode takes seconds.
SHORT_LIBERO_PRESET = """\
name = "test-libero-short"
version = 1
benchmark = "libero"
description = "tests only: 12 policy steps, 2 warm-up steps, 64 px frames"
source = "tests/preset_texts.py"
official = false
episodes_per_task = 50
env_seed = 7
warmup_steps = 2
warmup_action = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0]
replan_steps = 4
settings = ["default"]
max_steps_default = 12

[render]
cameras = ["agentview", "robot0_eye_in_hand"]
height = 64
width = 64
rotate_180 = true
"""
