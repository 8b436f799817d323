"""Checks of a Fast-WAM request that need no model code, so the driver can refuse one before it
starts Ray or imports torch (`PolicyEntry.precheck`)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import UsageError
from policies.base import PolicyContext

OPTIONAL_IDM_WORD = "optional"


def is_optional_idm(path: str | Path) -> bool:
    """Whether a checkpoint's file name is the Optional IDM release's (libero_optional_idm_2cam224.pt:
    both 'optional' and 'idm' as words), the one model that can also act from the first frame alone."""
    words = set(re.split(r"[^a-z0-9]+", Path(path).stem.lower()))
    return {OPTIONAL_IDM_WORD, "idm"} <= words


def require_weights(ctx: PolicyContext, variant: str = "fastwam") -> None:
    """A Fast-WAM needs a checkpoint, or the user's explicit word that random weights are meant.

    A forgotten --checkpoint used to build the tiny random model silently and plan thousands of
    episodes of meaningless actions."""
    if ctx.checkpoint or str(ctx.options.get("size") or "").strip():
        return
    raise UsageError(
        f"{variant} needs weights: pass --checkpoint FILE.pt (or hf://REPO/FILE after `wam-eval fetch`), "
        "or --policy-option size=tiny (or size=full) for a random, untrained model"
    )


def precheck(name: str, ctx: PolicyContext) -> None:
    require_weights(ctx, name)
