"""`wam-eval serve` holds bounded resources: connections, idle time, and the memory that over-limit
requests may take. Real server processes on loopback."""

from __future__ import annotations

import time

import numpy as np
import pytest
import websockets
import websockets.sync.client as ws_client

from harness.cli import main
from policies.remote.codec import decode, encode
from tests.remote_helpers import PROBE_REF, ServedPolicy

LIMIT = 256 * 1024  # --max-message-mb 0.25
GOOD = encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((8, 8, 3), np.uint8)})
# Over the limit, under 4x it: read and answered with an error where the connection has a share.
BIG = encode({"observation/state": np.zeros(8), "observation/images/agentview": np.zeros((400, 400, 3), np.uint8)})


def _connect(server: ServedPolicy) -> ws_client.ClientConnection:
    ws = ws_client.connect(f"ws://127.0.0.1:{server.port}", compression=None, max_size=None, open_timeout=20)
    assert "wam_eval" in decode(ws.recv(timeout=20))
    return ws


def _asks(ws: ws_client.ClientConnection) -> bool:
    ws.send(GOOD)
    return decode(ws.recv(timeout=20))["actions"].shape == (10, 7)


def test_connections_past_the_limit_are_refused_at_the_handshake(tmp_path):
    with ServedPolicy("--policy", PROBE_REF, "--max-connections", "2") as server:
        first, second = _connect(server), _connect(server)
        with pytest.raises(websockets.InvalidStatus) as refused:
            _connect(server)
        assert refused.value.response.status_code == 503
        assert b"--max-connections" in refused.value.response.body
        assert _asks(first) and _asks(second)  # the open ones go on
        first.close()
        deadline = time.monotonic() + 20
        while True:  # the server notices the close, then has room again
            try:
                third = _connect(server)
                break
            except websockets.InvalidStatus:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert _asks(third)
        second.close()
        third.close()
        assert server.alive()


def test_an_idle_connection_is_closed_and_a_busy_one_is_not(tmp_path):
    with ServedPolicy("--policy", PROBE_REF, "--idle-timeout", "1.5") as server:
        idle, busy = _connect(server), _connect(server)
        for _ in range(6):  # 3 s of requests every 0.5 s: never idle for 1.5 s
            assert _asks(busy)
            time.sleep(0.5)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            idle.recv(timeout=20)
        assert closed.value.rcvd.code == 1001 and "--idle-timeout" in closed.value.rcvd.reason
        assert _asks(busy)
        busy.close()


def test_over_limit_requests_share_one_memory_pool(tmp_path):
    assert LIMIT < len(BIG) < 4 * LIMIT
    # A pool of 0.5 MiB: the first connection's share (up to 3x the limit) takes all of it.
    with ServedPolicy("--policy", PROBE_REF, "--max-message-mb", "0.25", "--max-oversize-mb", "0.5") as server:
        first, second = _connect(server), _connect(server)
        first.send(BIG)
        reply = first.recv(timeout=20)
        assert isinstance(reply, str) and "is over this server's limit" in reply  # read, answered, goes on
        assert _asks(first)
        second.send(BIG)  # no share left: cut off unread
        with pytest.raises(websockets.ConnectionClosed) as closed:
            second.recv(timeout=20)
        assert closed.value.rcvd.code == 1009
        first.close()
        time.sleep(1.0)  # its share goes back to the pool as it closes
        third = _connect(server)
        third.send(BIG)
        assert "is over this server's limit" in third.recv(timeout=20)
        third.close()
        assert server.alive()


@pytest.mark.parametrize("flags, message", [
    (["--max-connections", "0"], "--max-connections must be at least 1"),
    (["--idle-timeout", "-1"], "--idle-timeout must be seconds >= 0"),
    (["--idle-timeout", "nan"], "--idle-timeout must be seconds >= 0"),
    (["--max-oversize-mb", "-1"], "--max-oversize-mb must be a number >= 0"),
])
def test_bad_bounds_are_one_line(capsys, flags, message):
    assert main(["serve", "--policy", "noop", *flags]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
