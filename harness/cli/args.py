"""Argument types shared by subcommands."""

from __future__ import annotations

import argparse


def csv_list(value: str) -> tuple[str, ...]:
    """Comma-separated names. Given nothing but commas or spaces, it is an error, not "all": a
    script whose variable came out empty must not quietly run the whole plan."""
    names = tuple(v.strip() for v in value.split(",") if v.strip())
    if not names:
        raise argparse.ArgumentTypeError(f"expected comma-separated names, got {value!r}; leave the flag out for "
                                         "the default")
    return names


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
