"""The seed rule on stored verdicts: upstream's first-N-accepted walk, the chunks the preparation
hands out, giving up, seed files imported (and exported) through a real store. No simulator: the
verdicts are written as a worker's would be."""

from __future__ import annotations

import json

import pytest

from envs.presets import builtin_presets
from envs.robotwin import seeds
from envs.robotwin.seeds import SeedRule
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey, PrepItem, Verdict
from harness.store import ResultStore

BENCH, TASK, PROTO = "robotwin", "stack_blocks_two", "proto"
RULE = SeedRule(start=100000, chunk=2, max_tries=10)


def keys(n, task=TASK, setting="clean"):
    return [EpisodeKey(BENCH, "primitives", task, setting, i) for i in range(n)]


def solved(seed, ok=True):
    info = {"{A}": "red block", "{a}": "left" if seed % 2 else "right"} if ok else {}
    return Verdict(seed, ok, {"solved": ok, "reason": "" if ok else "plan failed", "info": info})


def put(store, verdicts, task=TASK, setting="clean", source="worker-1 on here"):
    store.put_verdicts(BENCH, task, setting, PROTO, verdicts, source=source)


def pending(store, n, rule=RULE, **kw):
    return seeds.pending_items(BENCH, keys(n, **kw), rule, PROTO, store)


@pytest.fixture
def store(tmp_path):
    with ResultStore(tmp_path / "s.sqlite") as s:
        yield s


def test_an_empty_store_hands_out_chunks_from_the_start_seed(store):
    items = pending(store, 2)
    # Before any verdict the acceptance rate is taken as 1/2: two chunks of two are expected to give two seeds.
    assert [i.candidates for i in items] == [(100000, 100001), (100002, 100003)]
    assert [i.key for i in items] == [f"{TASK}/clean/{PROTO}/100000", f"{TASK}/clean/{PROTO}/100002"]
    assert items[0].label == f"{TASK}/clean seeds 100000-100001"
    assert (items[0].task, items[0].setting, items[0].protocol) == (TASK, "clean", PROTO)


def test_a_chunk_done_out_of_order_waits_for_the_hole_before_it(store):
    put(store, [solved(100002), solved(100003, False)])
    assert seeds.seed_list(store.verdicts(BENCH, TASK, "clean", PROTO), 100000, 2).seeds == ()
    assert [i.candidates for i in pending(store, 2)] == [(100000, 100001)], "chunk 100002 is in; 100000 is the hole"
    put(store, [solved(100000, False), solved(100001, False)])
    found = seeds.seed_list(store.verdicts(BENCH, TASK, "clean", PROTO), 100000, 2)
    assert found.seeds == (100002,) and found.next_unchecked == 100004
    # 1 of 4 accepted -> rate (1+1)/(4+2): two more chunks are expected to bring the second seed.
    assert [i.candidates for i in pending(store, 2)] == [(100004, 100005), (100006, 100007)]


def test_the_list_is_the_first_n_accepted_and_never_depends_on_n(store):
    put(store, [solved(s, s % 3 == 0) for s in range(100000, 100010)])
    verdicts = store.verdicts(BENCH, TASK, "clean", PROTO)
    assert seeds.seed_list(verdicts, 100000, 3).seeds == (100002, 100005, 100008)
    assert seeds.seed_list(verdicts, 100000, 2).seeds == (100002, 100005)
    assert pending(store, 3) == []
    params = seeds.episode_params(BENCH, keys(3), RULE, PROTO, store)
    assert [params.params[k.id]["seed"] for k in keys(3)] == [100002, 100005, 100008] and not params.problems
    assert params.params[keys(3)[1].id]["expert_info"] == {"{A}": "red block", "{a}": "left"}
    assert params.params[keys(3)[0].id]["seed_source"] == "expert"


def test_too_few_solved_within_max_tries_is_a_problem_per_missing_episode(store):
    put(store, [solved(s, s == 100004) for s in range(100000, 100010)])
    assert pending(store, 3) == [], "nothing left to try within max_seed_tries"
    params = seeds.episode_params(BENCH, keys(3), RULE, PROTO, store)
    assert params.params[keys(3)[0].id]["seed"] == 100004
    assert set(params.problems) == {keys(3)[1].id, keys(3)[2].id}
    assert params.problems[keys(3)[1].id] == (
        f"the expert solved 1 of the 10 seeds from 100000 for {TASK}/clean; 3 are needed (max_seed_tries 10 in the preset)"
    )


def test_a_worker_verdict_never_replaces_a_stored_one(store):
    put(store, [solved(100000)], source="worker-1 on a")
    put(store, [Verdict(100000, False, {"reason": "plan failed", "seconds": 3.0})], source="worker-2 on b")
    (v,) = store.verdicts(BENCH, TASK, "clean", PROTO).values()
    assert v.accepted and v.source == "worker-1 on a" and v.payload["reason"] == ""
    assert v.payload["seconds"] == 3.0, "a fact the first verdict lacked is added"


def test_tasks_and_settings_take_turns_in_the_queue(store):
    both = keys(2) + keys(2, task="blocks_ranking_rgb", setting="clean")
    items = seeds.pending_items(BENCH, both, RULE, PROTO, store)
    assert [(i.task, i.candidates[0]) for i in items] == [
        (TASK, 100000), ("blocks_ranking_rgb", 100000), (TASK, 100002), ("blocks_ranking_rgb", 100002)]


def test_expert_protocol_follows_what_decides_the_expert_not_the_renderer():
    presets = builtin_presets()
    official, standin, fastwam = presets["robotwin2-official"], presets["robotwin2-primitives"], presets["fastwam-robotwin"]
    assert seeds.expert_protocol(official, "runtime 0.1.3") == seeds.expert_protocol(fastwam, "runtime 0.1.3")
    assert seeds.expert_protocol(official, "runtime 0.1.3") != seeds.expert_protocol(standin, "runtime 0.1.3")
    assert seeds.expert_protocol(official, "runtime 0.1.3") != seeds.expert_protocol(official, "runtime 0.1.4")
    assert SeedRule.of(fastwam).start == 4_300_000 and SeedRule.of(standin) == SeedRule(100000, 2, 200)


# -- import and export -----------------------------------------------------------------------------
def write(path, body):
    path.write_text(json.dumps(body))
    return path


def load(paths, protocol=PROTO):
    return seeds.load_seed_files(paths, protocol=protocol, known_tasks=[TASK, "blocks_ranking_rgb"],
                                 known_settings=["clean", "randomized"])


def test_imported_lists_become_verdicts_and_win_over_the_expert(store, tmp_path):
    put(store, [solved(100001, False), solved(100002)])  # the expert's, before the import
    a = write(tmp_path / f"{TASK}.json", {"task": TASK, "setting": "clean", "start_seed": 100000,
                                           "seeds": [100001, 100003], "infos": {"100003": {"{A}": "blue block"}}})
    b = write(tmp_path / "blocks_ranking_rgb.json", {"task": "blocks_ranking_rgb", "start_seed": 100000,
                                                     "seeds": {"clean": [100000], "randomized": [100002, 100004]}})
    lists = load([a, b])
    assert [(e.task, e.setting, e.seeds) for _, e in lists] == [
        (TASK, "clean", (100001, 100003)), ("blocks_ranking_rgb", "clean", (100000,)),
        ("blocks_ranking_rgb", "randomized", (100002, 100004))]
    seeds.import_seed_lists(lists, store, benchmark=BENCH, protocol=PROTO)
    verdicts = store.verdicts(BENCH, TASK, "clean", PROTO)
    assert [(s, v.accepted) for s, v in verdicts.items()] == [(100000, False), (100001, True), (100002, False), (100003, True)]
    assert verdicts[100002].payload["reason"] == seeds.NOT_LISTED and verdicts[100002].imported
    assert verdicts[100001].source == f"imported from {TASK}.json"
    # 100001 has no expert info: the preparation asks the expert for it; then the list extends after 100003.
    items = pending(store, 3)
    assert items[0].candidates == (100001,) and "/info/" in items[0].key and "expert info" in items[0].label
    assert items[1].candidates == (100004, 100005)
    store.put_verdicts(BENCH, TASK, "clean", PROTO, [solved(100001, False)], source="worker-1 on here")
    v = store.verdicts(BENCH, TASK, "clean", PROTO)[100001]
    assert v.accepted and v.imported and "info" in v.payload, "the imported verdict stays; the info is added"
    params = seeds.episode_params(BENCH, keys(2), RULE, PROTO, store)
    assert [params.params[k.id]["seed"] for k in keys(2)] == [100001, 100003]
    assert params.params[keys(2)[1].id]["expert_info"] == {"{A}": "blue block"}
    assert params.params[keys(2)[1].id]["seed_source"] == f"imported from {TASK}.json"


def test_export_then_import_into_another_store_gives_the_same_episodes(store, tmp_path):
    put(store, [solved(s, s % 2 == 1) for s in range(100000, 100006)])
    (path,) = seeds.export_seed_lists(store, tmp_path / "out", benchmark=BENCH, protocol=PROTO, rule=RULE, count=2,
                                      tasks=[TASK, "blocks_ranking_rgb"], settings=["clean"])
    body = json.loads(path.read_text())
    assert body["seeds"] == {"clean": [100001, 100003]} and body["protocol"] == PROTO and body["start_seed"] == 100000
    with ResultStore(tmp_path / "other.sqlite") as other:
        seeds.import_seed_lists(load([path]), other, benchmark=BENCH, protocol=PROTO)
        assert pending(other, 2) == [], "the exported infos came along: nothing to ask the expert"
        mine = seeds.episode_params(BENCH, keys(2), RULE, PROTO, store).params
        theirs = seeds.episode_params(BENCH, keys(2), RULE, PROTO, other).params
    assert [mine[k.id]["seed"] for k in keys(2)] == [theirs[k.id]["seed"] for k in keys(2)]
    assert [mine[k.id]["expert_info"] for k in keys(2)] == [theirs[k.id]["expert_info"] for k in keys(2)]
    with pytest.raises(UsageError, match="validated under expert protocol proto, not this preset's other"):
        load([path], protocol="other")


@pytest.mark.parametrize(
    "body, message",
    [
        ({"task": "no_such_task", "setting": "clean", "start_seed": 1, "seeds": [1]}, "unknown RoboTwin task 'no_such_task'"),
        ({"task": TASK, "setting": "dusk", "start_seed": 1, "seeds": [1]}, "unknown setting 'dusk'"),
        ({"task": TASK, "setting": "clean", "start_seed": 1, "seeds": [3, 2]}, "increasing, unique"),
        ({"task": TASK, "setting": "clean", "start_seed": 5, "seeds": [3]}, ">= start_seed 5"),
        ({"task": TASK, "start_seed": 1, "seeds": [1]}, "needs a 'setting' field"),
        ({"task": TASK, "seeds": [1]}, "needs 'start_seed' and 'seeds'"),
        (["not", "an", "object"], "expected an object"),
    ],
)
def test_bad_seed_files_are_refused(tmp_path, body, message):
    with pytest.raises(UsageError, match=message):
        load([write(tmp_path / "f.json", body)])


# -- checks that raise: error verdicts ---------------------------------------------------------------
class Unstable(Exception):
    pass


def raises(exc):
    def fn():
        raise exc
    return fn


def plays(planned=True, succeeded=True, info=None):
    return lambda: (planned, succeeded, info or {"{A}": "red block"})


@pytest.mark.parametrize("setup, play, solved, reason, error", [
    (lambda: None, plays(), True, "", ""),
    (lambda: None, plays(planned=False), False, "plan failed", ""),
    (lambda: None, plays(succeeded=False), False, "check_success false", ""),
    (raises(Unstable("objects fell")), plays(), False, "unstable scene: objects fell", ""),
    (lambda: None, raises(Unstable("late")), False, "unstable scene: late", ""),  # upstream catches it around both
    (raises(FileNotFoundError("wood.png")), plays(), False, "setup failed: FileNotFoundError: wood.png",
     "FileNotFoundError: wood.png"),
    (lambda: None, raises(RuntimeError("CUDA out of memory\ntried 2 GiB")), False,
     "expert failed: RuntimeError: CUDA out of memory tried 2 GiB", "RuntimeError: CUDA out of memory tried 2 GiB"),
])
def test_only_the_experts_own_outcomes_are_final_anything_that_raised_is_an_error(setup, play, solved, reason, error):
    verdict = seeds.judge(setup, play, Unstable)
    assert (verdict.solved, verdict.reason, verdict.error) == (solved, reason, error)


def test_an_error_verdict_is_stored_as_a_rejection_without_episode_info(store):
    item = PrepItem(key="k", task=TASK, setting="clean", protocol=PROTO, candidates=(100000, 100001))
    checks = {100000: seeds.ExpertVerdict(False, "setup failed: OSError: x", error="OSError: x"),
              100001: seeds.ExpertVerdict(False, "unstable scene: y")}
    out = seeds.check_chunk(item, checks.__getitem__)
    assert [(v.accepted, v.payload.get("error"), "info" in v.payload) for v in out] == [
        (False, "OSError: x", False), (False, None, True)]
    put(store, out)
    verdicts = store.verdicts(BENCH, TASK, "clean", PROTO)
    assert verdicts[100000].error == "OSError: x" and verdicts[100001].error == ""
    assert seeds.seed_list(verdicts, 100000, 1).next_unchecked == 100002, "both count as checked and rejected"


def error(seed, message="FileNotFoundError: wood.png"):
    return Verdict(seed, False, {"solved": False, "reason": f"setup failed: {message}", "error": message})


def test_a_later_check_replaces_an_error_verdict_never_a_final_one(store):
    put(store, [error(100000), solved(100001, False), solved(100002)], source="worker-1 on a")
    put(store, [error(100000, "MemoryError: again")], source="worker-2 on b")
    v = store.verdicts(BENCH, TASK, "clean", PROTO)[100000]
    assert (v.error, v.source) == ("MemoryError: again", "worker-2 on b"), "the newest error is the one kept"
    put(store, [solved(100000), solved(100001), error(100002)], source="worker-3 on c")
    verdicts = store.verdicts(BENCH, TASK, "clean", PROTO)
    assert [(s, v.accepted, v.error, v.source) for s, v in verdicts.items()] == [
        (100000, True, "", "worker-3 on c"),  # the error is replaced by the expert's verdict
        (100001, False, "", "worker-1 on a"),  # the expert's rejection stands
        (100002, True, "", "worker-1 on a")]  # a later error neither marks it nor adds to it
    assert verdicts[100002].payload == solved(100002).payload
    (group,) = store.verdict_groups(BENCH)
    assert (group["checked"], group["accepted"], group["errors"]) == (3, 2, 0)


def test_forgetting_errors_deletes_only_error_verdicts_and_the_seeds_are_pending_again(store):
    put(store, [error(100000), solved(100001, False), solved(100002), error(100003)])
    put(store, [error(100000)], task="blocks_ranking_rgb")
    assert [(g["task"], g["errors"]) for g in store.verdict_groups(BENCH)] == [("blocks_ranking_rgb", 1), (TASK, 2)]
    assert pending(store, 1) == [], "until forgotten, an error counts as rejected: 100002 is the first seed"
    forgotten = store.forget_error_verdicts(BENCH, task=TASK)
    assert [(t, s, p, v.candidate, v.error) for t, s, p, v in forgotten] == [
        (TASK, "clean", PROTO, 100000, "FileNotFoundError: wood.png"),
        (TASK, "clean", PROTO, 100003, "FileNotFoundError: wood.png")]
    assert sorted(store.verdicts(BENCH, TASK, "clean", PROTO)) == [100001, 100002]
    assert pending(store, 1)[0].candidates == (100000,), "the forgotten seed is checked again, first"
    assert store.forget_error_verdicts(BENCH, protocol="another") == []
    assert [v.candidate for *_, v in store.forget_error_verdicts(BENCH)] == [100000], "the other task's error"
