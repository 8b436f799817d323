"""`wam-eval serve` as a real process on loopback: the handshake, openpi's own client against it, bad
messages, a slow policy, batching, and our client's reconnect and timeouts. Frames are a real LIBERO
render. About 40 s on 2 cores (most of it server start-ups and the deliberate waits)."""

from __future__ import annotations

import threading
import time
import urllib.request

import numpy as np
import pytest
import websockets
import websockets.sync.client as ws_client
from openpi_client.websocket_client_policy import WebsocketClientPolicy

from harness.api.errors import MissingDependencyError, UsageError
from harness.api.types import EpisodeKey, Observation
from policies.base import PolicyContext
from policies.remote import make_remote_policy
from policies.remote.client import _LONG_LIVED, RemotePolicyError, ServerUnreachable
from policies.remote.codec import decode, encode
from policies.remote.protocol import NATIVE, OPENPI_LIBERO, observation_to_wire
from policies.transforms import resize_image
from tests.remote_helpers import PROBE_REF, ProbePolicy, ServedPolicy, free_port, libero_observation, write_preset

LIBERO_CTX = dict(benchmark="libero", action_dim=7, noop_action=(0.0,) * 6 + (-1.0,))
KEY = EpisodeKey("libero", "libero_object", "pick_up_the_alphabet_soup_and_place_it_in_the_basket", "default", 0)


def ctx(**options: str) -> PolicyContext:
    return PolicyContext(**LIBERO_CTX, options=options)


@pytest.fixture(scope="module")
def observation(tmp_path_factory) -> Observation:
    """A real LIBERO observation with both cameras, as the env hands it to the harness."""
    preset = write_preset(tmp_path_factory.mktemp("preset") / "p.toml", cameras=("agentview", "robot0_eye_in_hand"))
    return libero_observation(preset)


@pytest.fixture(scope="module")
def probe_server():
    with ServedPolicy("--policy", PROBE_REF) as server:
        yield server


def _raw(server: ServedPolicy, **kw) -> tuple[ws_client.ClientConnection, dict]:
    ws = ws_client.connect(f"ws://127.0.0.1:{server.port}", compression=None, max_size=None, **_LONG_LIVED, **kw)
    return ws, decode(ws.recv(timeout=10))


def test_handshake_declares_the_served_policy(probe_server):
    ws, metadata = _raw(probe_server)
    ws.close()
    declared = metadata["wam_eval"]
    assert declared["policy"]["name"] == "probe"
    assert declared["policy"]["action_dim"] == 7 and declared["policy"]["horizon"] == 10
    assert declared["benchmark"] == "libero" and declared["max_message_bytes"] == 64 * 1024 * 1024
    policy = make_remote_policy(probe_server.address, ctx())
    try:
        info = policy.info()
        assert (info.name, info.action_dim, info.horizon, info.checkpoint_digest) == ("probe", 7, 10, "probe-seed-0")
        assert info.extra["capabilities"] == "declared by the server"
    finally:
        policy.close()


def test_answers_match_the_policy_in_process_with_timings(probe_server, observation):
    local = ProbePolicy(ctx())
    remote = make_remote_policy(probe_server.address, ctx())
    try:
        for policy in (local, remote):
            policy.reset(KEY)
        obs = Observation(observation.images, observation.state, observation.instruction, KEY.id, 0, observation.extras)
        for step in range(3):
            obs.step = step
            want, got = local.infer([obs])[0], remote.infer([obs])[0]
            np.testing.assert_array_equal(got.actions, want.actions)
            assert got.info["probe_call"] == step  # the policy's own info comes across
            for name in ("roundtrip_ms", "server_infer_ms", "queue_ms", "network_ms", "server_queue_ms"):
                assert got.info[name] >= 0.0, name
            assert got.info["roundtrip_ms"] >= got.info["server_infer_ms"]
            assert ("server_reset_ms" in got.info) == (step == 0)  # reset rides on the first request only
    finally:
        remote.close()


def test_openpi_client_talks_to_our_server(probe_server, observation):
    client = WebsocketClientPolicy("127.0.0.1", probe_server.port)
    assert client.get_server_metadata()["wam_eval"]["policy"]["name"] == "probe"
    image = resize_image(observation.images["agentview"], 224, 224)
    wrist = resize_image(observation.images["robot0_eye_in_hand"], 224, 224)
    element = {  # exactly what openpi's examples/libero/main.py sends
        "observation/image": image,
        "observation/wrist_image": wrist,
        "observation/state": observation.state.astype(np.float64),
        "prompt": observation.instruction,
    }
    local = ProbePolicy(ctx())
    local.reset(KEY)
    mapped = Observation({"agentview": image, "robot0_eye_in_hand": wrist}, element["observation/state"],
                         observation.instruction, KEY.id)
    for _ in range(2):
        reply = client.infer(element)
        np.testing.assert_array_equal(reply["actions"], local.infer([mapped])[0].actions)
        assert reply["server_timing"]["infer_ms"] >= 0.0
    assert "prev_total_ms" in reply["server_timing"]  # openpi's field, from the second answer on
    client._ws.close()


def test_malformed_messages_get_an_error_reply_and_the_connection_goes_on(probe_server, observation):
    ws, _ = _raw(probe_server)
    good = encode(observation_to_wire(observation, NATIVE, reset=True))
    bad = {
        "text frame": "hello",
        "garbage": b"\xc1\x00\x01",
        "not a map": encode([1, 2, 3]),
        "no state": encode({"prompt": "x"}),
        "short array": encode({"observation/state": np.zeros(8)})[:-3],
        "float image": encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((4, 4, 3))}),
        "bad episode id": encode({"observation/state": np.zeros(8), "wam_eval/episode_id": "x", "wam_eval/reset": True}),
    }
    try:
        for name, message in bad.items():
            ws.send(message)
            reply = ws.recv(timeout=10)
            assert isinstance(reply, str) and reply.startswith("wam-eval server: malformed request"), (name, reply)
        ws.send(good)
        assert decode(ws.recv(timeout=10))["actions"].shape == (10, 7)
    finally:
        ws.close()
    assert probe_server.alive()


def test_a_failing_policy_sends_its_traceback_and_the_server_stays_up(observation):
    with ServedPolicy("--policy", PROBE_REF, "--policy-option", "fail_step=3") as server:
        policy = make_remote_policy(server.address, ctx())
        try:
            policy.reset(KEY)
            obs = Observation(observation.images, observation.state, observation.instruction, KEY.id, step=3)
            with pytest.raises(RemotePolicyError, match="probe told to fail at step 3") as err:
                policy.infer([obs])
            assert "Traceback" in str(err.value)
            obs.step = 4
            assert policy.infer([obs])[0].actions.shape == (10, 7)
        finally:
            policy.close()
        assert server.alive()


def test_oversized_messages_are_refused_and_the_server_stays_up(observation):
    with ServedPolicy("--policy", PROBE_REF, "--max-message-mb", "0.25") as server:
        ws, metadata = _raw(server)
        limit = 256 * 1024
        assert metadata["wam_eval"]["max_message_bytes"] == limit
        good = encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((8, 8, 3), np.uint8)})
        # Over the limit: an error reply naming both sizes, and the same connection answers the next request.
        big = encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((400, 400, 3), np.uint8)})
        assert limit < len(big) < 4 * limit
        ws.send(big)
        reply = ws.recv(timeout=10)
        assert isinstance(reply, str) and reply.startswith(f"wam-eval server: request of {len(big)} bytes"), reply
        assert f"limit of {limit} bytes" in reply
        ws.send(good)
        assert decode(ws.recv(timeout=10))["actions"].shape == (10, 7)
        # Far over it: the websocket layer closes that connection rather than hold the message.
        huge = encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((700, 700, 3), np.uint8)})
        assert len(huge) > 4 * limit
        ws.send(huge)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd.code == 1009 and closed.value.rcvd.reason  # "message too big", with the sizes
        # our client refuses before sending, naming both sizes
        policy = make_remote_policy(server.address, ctx())
        try:
            obs = Observation({"agentview": np.zeros((400, 400, 3), np.uint8)}, observation.state, "x", KEY.id)
            with pytest.raises(RemotePolicyError, match=r"takes at most 262144"):
                policy.infer([obs])
            assert policy.infer([observation])[0].actions.shape == (10, 7)  # and the same connection goes on
        finally:
            policy.close()
        assert server.alive()


def test_a_slow_policy_does_not_block_the_event_loop(observation):
    with ServedPolicy("--policy", PROBE_REF, "--policy-option", "delay_s=2") as server:
        policy = make_remote_policy(server.address, ctx())
        answers = []
        worker = threading.Thread(target=lambda: answers.append(policy.infer([observation])[0]))
        worker.start()
        time.sleep(0.3)  # the policy thread is now inside its 2 s sleep
        t0 = time.perf_counter()
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/healthz", timeout=5) as health:
            assert health.status == 200
        ws, metadata = _raw(server)
        ws.ping().wait(5)
        waited = time.perf_counter() - t0
        ws.close()
        worker.join(timeout=20)
        policy.close()
        assert "wam_eval" in metadata
        assert waited < 1.0, f"health check, handshake and ping took {waited:.2f} s while the policy was busy"
        assert answers and answers[0].info["server_infer_ms"] >= 2000


def test_requests_that_wait_together_are_batched(observation):
    with ServedPolicy("--policy", PROBE_REF, "--policy-option", "delay_s=1", "--batch-max", "4") as server:
        policies = [make_remote_policy(server.address, ctx()) for _ in range(3)]
        answers: dict[int, dict] = {}

        def ask(i: int) -> None:
            answers[i] = policies[i].infer([observation])[0].info

        first = threading.Thread(target=ask, args=(0,))
        first.start()
        time.sleep(0.3)  # the first request holds the policy; the next two queue behind it
        others = [threading.Thread(target=ask, args=(i,)) for i in (1, 2)]
        for t in others:
            t.start()
        for t in [first, *others]:
            t.join(timeout=20)
        for p in policies:
            p.close()
        assert answers[0]["server_batch_size"] == 1
        assert answers[1]["server_batch_size"] == answers[2]["server_batch_size"] == 2
        assert answers[1]["server_queue_ms"] > 300


def test_no_server_fails_fast_with_one_line():
    started = time.monotonic()
    with pytest.raises(MissingDependencyError, match=r"cannot reach the policy server at ws://127\.0\.0\.1:\d+ within 1 s"):
        make_remote_policy(f"remote://127.0.0.1:{free_port()}", ctx(connect_timeout="1"))
    assert time.monotonic() - started < 5


def test_bad_addresses_and_options_are_usage_errors():
    with pytest.raises(UsageError, match="needs a host and a port"):
        make_remote_policy("remote://localhost", ctx())
    with pytest.raises(UsageError, match="unknown remote policy option"):
        make_remote_policy("remote://127.0.0.1:1", ctx(colour="blue"))


def test_reconnects_to_a_restarted_server_and_resets_the_episode_there(observation):
    server = ServedPolicy("--policy", PROBE_REF).start()
    try:
        policy = make_remote_policy(server.address, ctx(retry_timeout="30"))
        policy.reset(KEY)
        obs = Observation(observation.images, observation.state, observation.instruction, KEY.id)
        assert [policy.infer([obs])[0].info["probe_call"] for _ in range(2)] == [0, 1]
        server.kill()
        threading.Timer(1.0, server.start).start()  # back after a second, on the same port
        after = policy.infer([obs])[0]
        assert after.info["reconnect_ms"] >= 500
        assert after.info["probe_call"] == 0  # the new server got the episode's reset again
        assert "server_reset_ms" in after.info
        policy.close()
    finally:
        server.kill()


def test_a_dead_server_ends_requests_within_the_retry_timeout_then_fails_fast(observation):
    server = ServedPolicy("--policy", PROBE_REF).start()
    try:
        policy = make_remote_policy(server.address, ctx(retry_timeout="1.5"))
        policy.infer([observation])
    finally:
        server.kill()
    started = time.monotonic()
    with pytest.raises(ServerUnreachable, match=r"unreachable for \d+\.\d s \(retry_timeout 1\.5 s\)"):
        policy.infer([observation])
    assert 1.0 < time.monotonic() - started < 5
    started = time.monotonic()
    with pytest.raises(ServerUnreachable):
        policy.infer([observation])  # already gone longer than the timeout: one attempt only
    assert time.monotonic() - started < 1.0
    policy.close()


def test_our_client_sends_openpi_keys_when_asked(probe_server, observation):
    """Our server understands openpi's LIBERO keys too, so the mapping can be checked against it."""
    policy = make_remote_policy(probe_server.address, ctx(mapping="openpi-libero"))
    local = ProbePolicy(ctx())
    try:
        policy.reset(KEY)
        local.reset(KEY)
        obs = Observation(observation.images, observation.state, observation.instruction, KEY.id)
        wire = observation_to_wire(obs, OPENPI_LIBERO, reset=False)
        assert {"observation/image", "observation/wrist_image", "observation/state", "prompt"} <= set(wire)
        np.testing.assert_array_equal(policy.infer([obs])[0].actions, local.infer([obs])[0].actions)
    finally:
        policy.close()


def test_a_server_that_comes_back_with_another_policy_is_refused(observation):
    port = free_port()
    server = ServedPolicy("--policy", PROBE_REF, port=port).start()
    try:
        policy = make_remote_policy(server.address, ctx(retry_timeout="30"))
        policy.infer([observation])
        server.kill()
        server = ServedPolicy("--policy", PROBE_REF, "--policy-option", "horizon=5", port=port).start()
        with pytest.raises(RemotePolicyError, match=r"came back serving another policy \(probe probe-seed-0, 7-D, horizon 5\)"):
            policy.infer([observation])
        policy.close()
    finally:
        server.kill()


@pytest.mark.slow
def test_fastwam_served_answers_as_in_process(observation):
    """The flagship policy through the wire: its transforms (camera composition, state and action
    normalisation) travel in the handshake and give the same actions. ~30 s on 2 cores."""
    import dataclasses

    from envs.presets import resolve_preset
    from policies.registry import make_policy
    from policies.transforms import apply_transforms

    preset = resolve_preset("fastwam-libero")
    fw_ctx = PolicyContext(**LIBERO_CTX, action_horizon=preset.action_horizon, options={"size": "tiny"})
    local = make_policy("fastwam", fw_ctx)
    with ServedPolicy("--policy", "fastwam", "--policy-option", "size=tiny", "--preset", "fastwam-libero",
                      timeout=300) as server:
        remote = make_policy(server.address, fw_ctx)
        try:
            assert dataclasses.replace(remote.info(), extra={}) == dataclasses.replace(local.info(), extra={})
            key = EpisodeKey.from_id(observation.episode_id)
            outputs = []
            for policy in (local, remote):
                info = policy.info()
                policy.reset(key)
                chunk = policy.infer([apply_transforms(observation, info.input_transforms)])[0]
                outputs.append(apply_transforms(chunk, info.output_transforms))
            np.testing.assert_array_equal(outputs[0].actions, outputs[1].actions)
            assert outputs[1].info["server_infer_ms"] > 0
        finally:
            remote.close()


def test_a_foreign_server_that_names_no_checkpoint_is_told_apart_by_address_and_metadata():
    """Without --checkpoint LABEL, an openpi server's run identity must still not merge two models:
    its address and metadata stand for the checkpoint (stable across connections to one server)."""
    from tests.remote_helpers import OpenpiLiberoPolicy, OpenpiServerThread

    def digest(port: int) -> str:
        policy = make_remote_policy(f"remote://127.0.0.1:{port}", ctx(horizon="10"))
        try:
            return policy.info().checkpoint_digest
        finally:
            policy.close()

    seen = []
    for metadata in ({"model": "pi05-a"}, {"model": "pi05-b"}):
        with OpenpiServerThread(OpenpiLiberoPolicy(), metadata=metadata) as server:
            first, again = digest(server.port), digest(server.port)
        assert first == again and first.startswith("undeclared:"), (first, again)
        seen.append(first)
    assert seen[0] != seen[1]
