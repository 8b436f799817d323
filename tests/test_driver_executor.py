"""The driver builds one executor per run: the preset, which fixes the policy's context, is decided
before the executor exists. In-process on real LIBERO (one short episode)."""

from __future__ import annotations

from pathlib import Path

from harness.driver import RunOptions, run_evaluation
from harness.executors import InProcessExecutor
from harness.run_plan import declared_presets
from harness.spec import EvalSpec
from harness.store import ResultStore
from policies.base import PolicyInfo
from tests.policies_for_tests import Scripted

OWN_PRESET = str(Path(__file__).resolve().parent / "data" / "fastwam-short-libero.toml")


class DeclaresItsProtocol(Scripted):
    """Declares its protocol on the class (read without building it) and again in its info; its
    horizon follows the preset it is built under (32-action chunks, 10 executed under its own)."""

    name = "declares-own-protocol"
    preferred_presets = {"libero": OWN_PRESET}

    def info(self) -> PolicyInfo:
        return PolicyInfo(name=self.name, action_dim=self.ctx.action_dim, horizon=self.horizon,
                          preferred_presets=dict(self.preferred_presets))


def test_a_policy_declaring_its_protocol_is_built_once_under_it(store_path):
    built = []

    def factory(ref, ctx):
        built.append(ctx.preset.name)
        return InProcessExecutor(ref, ctx)

    spec = EvalSpec(benchmark="libero", policy=f"{__name__}:DeclaresItsProtocol", suites=("libero_object",),
                    tasks="0", episodes=1)
    outcome = run_evaluation(spec, RunOptions(store=store_path, quiet=True, executor_factory=factory))
    assert built == ["test-fastwam-short"], "one executor, built under the policy's own protocol"
    assert outcome.manifest.preset_name == "test-fastwam-short" and outcome.ran == 1
    with ResultStore(store_path) as store:
        (row,) = store.episode_rows(outcome.run_id)
    assert row["end_reason"] == "horizon" and row["steps"] == 20 and row["policy_calls"] == 2


def test_what_a_policy_declares_before_it_is_built():
    assert declared_presets("fastwam")["libero"] == "fastwam-libero"  # the registry entry
    assert declared_presets("noop") == {}
    assert declared_presets(f"{__name__}:DeclaresItsProtocol") == {"libero": OWN_PRESET}
    # Known only once built (or not importable here): nothing declared, nothing raised.
    assert declared_presets("tests.policies_for_tests:PrefersItsOwnProtocol") == {}
    assert declared_presets("remote://localhost:1") == {}
    assert declared_presets("no_such_module:factory") == {}
