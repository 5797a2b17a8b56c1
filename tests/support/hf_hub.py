"""A Hugging Face Hub on 127.0.0.1 and the Hub's cache layout, for the ``hf-hub:`` tests.

:func:`place_in_cache` lays files out exactly as ``huggingface_hub`` caches them::

    HF_HUB_CACHE/models--ORG--NAME/blobs/<etag>
                                  /snapshots/<commit>/<file>  -> ../../blobs/<etag>
                                  /refs/<branch or tag>       (holds the commit)

:class:`FakeHub` answers the requests that ``huggingface_hub``'s upload path makes (found in its
source: ``HfApi.create_repo`` -> ``POST /api/repos/create``; ``create_commit`` ->
``POST /api/validate-yaml`` for a README, ``POST /api/models/{repo}/preupload/{rev}``, then
``POST /api/models/{repo}/commit/{rev}`` with an NDJSON body) and its download path
(``HEAD`` / ``GET /{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit`` and ``ETag``). Every
file is declared "regular" at preupload, so contents arrive base64-encoded inside the commit (a
real Hub stores large files through LFS / Xet instead, which is not simulated here).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.http_server import start_server, stop_server


def place_in_cache(folder: Path, cache: Path, repo_id: str, commit: str, refs: tuple[str, ...] = ("main",)) -> Path:
    """Copy every file of ``folder`` into the Hub cache ``cache`` as repository ``repo_id`` at
    ``commit`` (40 hex digits), with ``refs`` pointing at it; returns the snapshot folder."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "blobs").mkdir(exist_ok=True)
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        etag = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / etag).write_bytes(data)
        os.symlink(Path("..") / ".." / "blobs" / etag, snapshot / path.name)
    (repo / "refs").mkdir(exist_ok=True)
    for ref in refs:
        (repo / "refs" / ref).write_text(commit)
    return snapshot


@dataclass
class FakeHub:
    """Model repositories in memory: ``repos[repo_id] = {"refs": {name: commit}, "commits": {commit: {path: bytes}}}``;
    ``requests`` lists ``(method, path, headers with lower-case names)`` of every request, ``created`` the create-repo payloads."""

    repos: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)
    created: list[dict] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo["commits"][repo["refs"].get(revision, revision)]

    def commit(self, repo_id: str, files: dict[str, bytes], revision: str = "main") -> str:
        """Add a commit of ``files`` (on top of the revision's files) and move ``revision`` to it."""
        repo = self.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
        parent = repo["commits"].get(repo["refs"].get(revision), {})
        tree = {**parent, **files}
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in tree.items())).encode())
        repo["commits"][sha.hexdigest()] = tree
        repo["refs"][revision] = sha.hexdigest()
        return sha.hexdigest()

    def start(self) -> FakeHub:
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                                   **(headers or {})}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def do_POST(self) -> None:
                hub.requests.append(("POST", self.path, {k.lower(): v for k, v in self.headers.items()}))
                body = self._body()
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts[:3] == ["api", "repos", "create"]:
                    payload = json.loads(body)
                    hub.created.append(payload)
                    repo_id = f"{payload['organization']}/{payload['name']}"
                    hub.repos.setdefault(repo_id, {"refs": {}, "commits": {}})
                    return self._json(200, {"url": f"{hub.endpoint}/{repo_id}"})
                if parts[:2] == ["api", "validate-yaml"]:
                    return self._json(200, {"errors": [], "warnings": []})
                if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "preupload":
                    files = json.loads(body)["files"]
                    return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                      for f in files]})
                if len(parts) == 6 and parts[:2] == ["api", "models"] and parts[4] == "commit":
                    repo_id, revision = f"{parts[2]}/{parts[3]}", parts[5]
                    lines = [json.loads(line) for line in body.splitlines() if line.strip()]
                    files = {item["value"]["path"]: base64.b64decode(item["value"]["content"])
                             for item in lines if item["key"] == "file"}
                    sha = hub.commit(repo_id, files, revision)
                    return self._json(200, {"commitUrl": f"{hub.endpoint}/{repo_id}/commit/{sha}", "commitOid": sha})
                self._json(404, {"error": f"no such endpoint {self.path}"})

            def _resolve(self, send_body: bool) -> None:
                hub.requests.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                parts = self.path.split("?")[0].strip("/").split("/", 4)
                if len(parts) < 5 or parts[2] != "resolve":
                    return self._json(404, {"error": "not found"}, {"X-Error-Code": "EntryNotFound"})
                repo_id, revision, name = f"{parts[0]}/{parts[1]}", parts[3], parts[4]
                repo = hub.repos.get(repo_id)
                if repo is None:
                    return self._json(404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
                commit = repo["refs"].get(revision, revision)
                if commit not in repo["commits"]:
                    return self._json(404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"})
                data = repo["commits"][commit].get(name)
                if data is None:
                    return self._json(404, {"error": "Entry not found"},
                                      {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", commit)
                self.end_headers()
                if send_body:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                self._resolve(send_body=False)

            def do_GET(self) -> None:
                self._resolve(send_body=True)

        self._server = start_server(Handler)
        return self

    def stop(self) -> None:
        stop_server(self._server)
