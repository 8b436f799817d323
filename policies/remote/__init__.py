"""Remote policies over websocket on openpi's wire format: `wam-eval serve` (server.py) serves any
Policy; `--policy remote://host:port` (client.py) evaluates a policy served by it or by openpi,
over a connection that reconnects (connection.py), as its options say (options.py).
codec.py is the msgpack-numpy encoding, protocol.py the message shapes. See docs/remote.md."""

from policies.remote.client import RemotePolicy, make_remote_policy

__all__ = ["RemotePolicy", "make_remote_policy"]
