"""A real HTTP server on 127.0.0.1 for download tests, with scripted misbehaviour per path."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


@dataclass
class Route:
    """What the server does for one path.

    Attributes:
        body: the full file.
        fail_first: answer this many requests with ``status`` before serving the body.
        status: the error status of those failures.
        truncate_first: on this many requests, announce the full length but send half, then close.
        chunk_delay_s: pause between 4 KiB chunks (a slow server).
        endless_bytes: instead of ``body``, zeros with no Content-Length until the client hangs up
            or this many bytes were sent (a server that never stops; the cap keeps a client that
            never stops from hanging the test). ``LoopbackServer.sent`` counts what was sent.
    """

    body: bytes = b""
    fail_first: int = 0
    status: int = 503
    truncate_first: int = 0
    chunk_delay_s: float = 0.0
    endless_bytes: int = 0


@dataclass
class LoopbackServer:
    """The tests' one HTTP server (``with LoopbackServer(routes) as server:``, or the
    ``http_server`` fixture); ``hits`` counts requests per path, ``sent`` the bytes of endless
    routes handed to the socket (the kernel buffers a few MB more than the client has read)."""

    routes: dict[str, Route] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)
    sent: int = 0
    _server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def start(self) -> LoopbackServer:
        server_state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                route = server_state.routes.get(self.path)
                server_state.hits[self.path] += 1
                n = server_state.hits[self.path]
                if route is None:
                    self.send_error(404)
                    return
                if n <= route.fail_first:
                    self.send_error(route.status)
                    return
                self.send_response(200)
                if route.endless_bytes:
                    self._send_zeros(route.endless_bytes)
                    return
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                body = route.body
                if n - route.fail_first <= route.truncate_first:
                    body = body[: len(body) // 2]
                for start in range(0, len(body), 4096):
                    self.wfile.write(body[start:start + 4096])
                    self.wfile.flush()
                    if route.chunk_delay_s:
                        time.sleep(route.chunk_delay_s)
                self.close_connection = True

            def _send_zeros(self, cap: int) -> None:
                self.end_headers()
                zeros = bytes(1 << 16)
                try:
                    while server_state.sent < cap:
                        self.wfile.write(zeros)
                        server_state.sent += len(zeros)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

        self._server = start_server(Handler)
        return self

    def stop(self) -> None:
        stop_server(self._server)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threading HTTP server on 127.0.0.1 (a free port) answering with ``handler``, in a daemon thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop_server(server: ThreadingHTTPServer | None) -> None:
    """Stop a server from :func:`start_server` (None: nothing to stop)."""
    if server is not None:
        server.shutdown()
        server.server_close()
