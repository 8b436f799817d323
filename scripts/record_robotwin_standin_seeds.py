"""Record the first expert-accepted seeds of every stand-in task (robotwin2-primitives, clean) into
tests/data/robotwin_standin_seeds.json, with the stack they were found on. The sapien tests check the
seeds again: a changed planner, simulator or task code shows up as a changed seed list.

Verdicts already in --store are reused (the expert_protocol digest must match); what is missing is
checked here, in this process, one chunk at a time. Run it in the RoboTwin environment:

    .tox/robotwin/bin/python scripts/record_robotwin_standin_seeds.py [--count 2] [--store PATH]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from envs.presets import resolve_preset
from envs.registry import get_benchmark
from harness.api.types import EpisodeKey
from harness.store import ResultStore

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "robotwin_standin_seeds.json"
PRESET = "robotwin2-primitives"
STACK_KEYS = ("robotwin_code", "sapien", "mplib", "toppra", "numpy", "assets")


def record(store: ResultStore, count: int) -> dict:
    preset = resolve_preset(PRESET)
    bench = get_benchmark("robotwin")
    protocol = bench.expert_protocol(preset)
    tasks = {}
    for task in preset.params["tasks"]:
        keys = [EpisodeKey("robotwin", "primitives", task, "clean", i) for i in range(count)]
        while items := bench.preparation(keys, preset, store):
            item = items[0]
            print(f"checking {item.label}", flush=True)
            store.put_verdicts(
                bench.name,
                item.task,
                item.setting,
                item.protocol,
                bench.prepare(item, preset),
                source="record_robotwin_standin_seeds.py",
            )
        params = bench.episode_params(keys, preset, store)
        if params.problems:
            raise SystemExit(next(iter(params.problems.values())))
        accepted = [int(params.params[k.id]["seed"]) for k in keys]
        verdicts = store.verdicts("robotwin", task, "clean", protocol)
        rejected = {
            str(s): v.payload.get("reason", "") for s, v in verdicts.items() if s < accepted[-1] and not v.accepted
        }
        # The expert's episode info (which block, which arm) follows the scene and the plan: recorded too.
        infos = {str(s): dict(verdicts[s].payload.get("info", {})) for s in accepted}
        tasks[task] = {"accepted": accepted, "rejected": rejected, "infos": infos}
        print(f"{task}: accepted {accepted}, rejected {sorted(rejected)}", flush=True)
    versions = bench.versions(preset)
    return {
        "about": "the first expert-accepted seeds of each robotwin2-primitives task (clean), the expert's episode "
        "info on them, and the candidates rejected before them; written by scripts/record_robotwin_standin_seeds.py, checked by "
        "tests/robotwin/test_sapien.py",
        "preset": PRESET,
        "setting": "clean",
        "start_seed": 100000,
        "count": count,
        "expert_protocol": protocol,
        "stack": {k: versions.get(k, "") for k in STACK_KEYS},
        "tasks": tasks,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2, help="accepted seeds per task")
    parser.add_argument("--store", type=Path, help="a store whose verdicts to reuse (default: a fresh one)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        with ResultStore(args.store or Path(tmp) / "seeds.sqlite") as store:
            data = record(store, args.count)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
