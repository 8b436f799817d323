"""Argument types shared by subcommands."""

from __future__ import annotations

import argparse


def csv_list(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def key_value(value: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"policy option {value!r} is not KEY=VALUE")
    return key.strip(), val.strip()


POLICY_OPTION_HELP = (
    "a policy's own setting, repeatable; part of the run identity. Fast-WAM: size=tiny|full, assets=DIR, "
    "stats=FILE, seed, steps, sigma_shift, dtype, decode_video, action_infer_mode=idm|first_frame (docs/fastwam.md); "
    "remote://: action_dim, horizon, timeouts (docs/remote.md); noop/random: horizon. Default: none"
)
