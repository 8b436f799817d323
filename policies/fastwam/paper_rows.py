"""Which published row a Fast-WAM run is (`PolicyEntry.paper_row`): the paper's row of its variant, or
the official README's for the Optional IDM release, per inference mode. `wam-eval reproduce` judges a
run against it unless `--against` names another. Imports nothing heavy (read when a command starts)."""

from __future__ import annotations

from collections.abc import Mapping

from policies.fastwam.request import is_optional_idm

# The paper's row of each built-in variant (Fast-WAM paper, Tables 1 and 2).
PAPER_METHODS: Mapping[str, str] = {
    "fastwam": "Fast-WAM",
    "fastwam-joint": "Fast-WAM-Joint",
    "fastwam-idm": "Fast-WAM-IDM",
    "fastwam-novideo": "Fast-WAM w.o. video co-train",
}
# The Optional IDM release is not in the paper: its figures are the official README's, per mode.
OPTIONAL_IDM_METHODS: Mapping[str, str] = {
    "idm": "Fast-WAM Optional IDM, idm mode (README)",
    "first_frame": "Fast-WAM Optional IDM, first_frame mode (README)",
}


def paper_row(name: str, checkpoint: str | None, options: Mapping[str, str]) -> str | None:
    mode = options.get("action_infer_mode")
    optional = checkpoint is not None and is_optional_idm(checkpoint)
    if name == "fastwam-idm" and (optional or mode):
        return OPTIONAL_IDM_METHODS.get(mode or "idm")
    return PAPER_METHODS.get(name)
