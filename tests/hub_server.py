"""A loopback HTTP server speaking the parts of the Hugging Face hub API that `wam-eval fetch` uses,
so the real huggingface_hub client (HF_ENDPOINT pointed here) plans and downloads from it:
POST /api/models/{repo}/paths-info/{rev}, GET /api/models/{repo}/tree/{rev}/{path}, and
HEAD/GET /{repo}/resolve/{rev}/{file} (with Range, as a resumed download asks)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Mapping
from urllib.parse import parse_qs, unquote, urlparse

LFS_SUFFIXES = (".pt", ".safetensors", ".bin")


def commit_of(repo: str) -> str:
    return hashlib.sha1(repo.encode()).hexdigest()  # 40 hex, as a commit id


class HubFiles:
    def __init__(self, repos: Mapping[str, Mapping[str, bytes]]):
        self.repos = {r: dict(files) for r, files in repos.items()}
        self.requests: list[tuple[str, str]] = []

    def entry(self, path: str, data: bytes) -> dict:
        out = {"type": "file", "path": path, "size": len(data), "oid": hashlib.sha1(data).hexdigest()}
        if path.endswith(LFS_SUFFIXES):
            out["lfs"] = {"size": len(data), "oid": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        return out


def _handler(hub: HubFiles):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # quiet
            pass

        def _json(self, payload, status=200) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _repo_rest(self, parts: list[str]) -> tuple[str, list[str]]:
            return "/".join(parts[:2]), parts[2:]

        def do_POST(self) -> None:
            url = urlparse(self.path)
            hub.requests.append(("POST", url.path))
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts[:2] == ["api", "models"] and "paths-info" in parts:
                repo = "/".join(parts[2:4])
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                files = hub.repos.get(repo)
                if files is None:
                    return self._json({"error": "Repository not found"}, 404)
                return self._json([hub.entry(p, files[p]) for p in form.get("paths", []) if p in files])
            self._json({"error": "not found"}, 404)

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            url = urlparse(self.path)
            hub.requests.append((self.command, url.path))
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] == "tree":
                repo, folder = "/".join(parts[2:4]), "/".join(parts[6:])
                files = hub.repos.get(repo)
                if files is None:
                    return self._json({"error": "Repository not found"}, 404)
                under = {p: d for p, d in files.items() if p.startswith(folder.rstrip("/") + "/")}
                if not under:
                    return self._json({"error": "Entry not found"}, 404)
                return self._json([hub.entry(p, d) for p, d in sorted(under.items())])
            if len(parts) >= 5 and parts[2] == "resolve":
                repo, path = "/".join(parts[:2]), "/".join(parts[4:])
                data = hub.repos.get(repo, {}).get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                entry = hub.entry(path, data)
                etag = entry["lfs"]["oid"] if "lfs" in entry else entry["oid"]
                start = 0
                ranged = self.headers.get("Range")
                if ranged and ranged.startswith("bytes="):
                    start = int(ranged[6:].split("-")[0] or 0)
                chunk = data[start:]
                self.send_response(206 if start else 200)
                self.send_header("X-Repo-Commit", commit_of(repo))
                self.send_header("ETag", f'"{etag}"')
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(chunk)))
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if body:
                    self.wfile.write(chunk)
                return
            self._json({"error": "not found"}, 404)

    return Handler


class HubServer:
    def __init__(self, repos: Mapping[str, Mapping[str, bytes]]):
        self.files = HubFiles(repos)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.files))
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "HubServer":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
