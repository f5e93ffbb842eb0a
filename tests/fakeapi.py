"""A scriptable fake OpenAI-compatible server on 127.0.0.1 for the tests.

Each test queues replies per (method, path); the last reply of a queue repeats,
so `api.add("GET", "/v1/models", Reply(429))` answers 429 forever. Every request
is recorded with its method, path, query, headers and body.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict = field(default_factory=dict)
    delay: float = 0.0          # before the status line
    chunks: list | None = None  # body parts sent one by one (chunked encoding), e.g. SSE
    chunk_delay: float = 0.0    # between chunks
    drop: bool = False          # close the connection without answering
    cut_after: int | None = None  # send headers and this many body bytes (or chunks), then close
    trickle: float | None = None  # seconds between single body bytes
    dynamic: Any = None         # a function(Recorded) -> Reply that answers from the request
    on_chunk: Any = None        # a function(index) called as each chunk is flushed (for timing)

    def payload(self) -> bytes:
        if self.json is not None:
            return json.dumps(self.json).encode()
        if isinstance(self.body, str):
            return self.body.encode()
        return self.body or b""


def sse(*events: Any, done: bool = True) -> list:
    """SSE chunks from JSON-able events (dicts) or raw strings; `[DONE]` at the end."""
    parts = [f"data: {json.dumps(e) if not isinstance(e, str) else e}\n\n".encode() for e in events]
    if done:
        parts.append(b"data: [DONE]\n\n")
    return parts


def sse_reply(*events: Any, done: bool = True, **kwargs) -> Reply:
    headers = {"Content-Type": "text/event-stream"}
    headers.update(kwargs.pop("headers", {}))
    return Reply(chunks=sse(*events, done=done), headers=headers, **kwargs)


@dataclass
class Recorded:
    method: str
    path: str
    query: str
    headers: dict
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a killed script, a test's deliberate reset) is no error of the
    server's: without this, its traceback lands in whatever test is capturing stderr next."""

    def handle_error(self, request, client_address):
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeAPI:
    def __init__(self):
        self.routes: dict = {}
        self.requests: list = []
        self._lock = threading.Lock()
        self.server = QuietServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + "/v1"

    def add(self, method: str, path: str, *replies: Reply) -> None:
        with self._lock:
            self.routes.setdefault((method.upper(), path), []).extend(replies)

    def json(self, method: str, path: str, document: Any, **kwargs) -> None:
        self.add(method, path, Reply(json=document, **kwargs))

    def calls(self, method: str | None = None, path: str | None = None) -> list:
        return [r for r in self.requests
                if (method is None or r.method == method) and (path is None or r.path == path)]

    def _next_reply(self, method: str, path: str) -> Reply:
        with self._lock:
            queue = self.routes.get((method, path))
            if not queue:
                return Reply(404, json={"error": {"message": f"no fake route for {method} {path}"}})
            return queue.pop(0) if len(queue) > 1 else queue[0]

    def _handler_class(self):
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else a body written after its headers waits ~40 ms for a delayed ACK

            def log_message(self, *args):
                pass

            def _serve(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Recorded(self.command, parts.path, parts.query, dict(self.headers.items()), body)
                with api._lock:
                    api.requests.append(seen)
                reply = api._next_reply(self.command, parts.path)
                if reply.dynamic is not None:
                    reply = reply.dynamic(seen)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    return
                self.send_response(reply.status)
                headers = {k.lower(): v for k, v in reply.headers.items()}
                headers.setdefault("content-type", "application/json")
                for name, value in headers.items():
                    self.send_header(name, value)
                if reply.chunks is not None:
                    self._send_chunks(reply)
                    return
                payload = reply.payload()
                if "content-length" not in headers:
                    self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if reply.cut_after is not None:
                    self.wfile.write(payload[: reply.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                elif reply.trickle:
                    for index in range(len(payload)):
                        self.wfile.write(payload[index:index + 1])
                        self.wfile.flush()
                        time.sleep(reply.trickle)
                else:
                    self.wfile.write(payload)

            def _send_chunks(self, reply: Reply):
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                sent = 0
                for part in reply.chunks:
                    part = part.encode() if isinstance(part, str) else part
                    if reply.cut_after is not None and sent >= reply.cut_after:
                        self.close_connection = True
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
                    self.wfile.flush()
                    if reply.on_chunk:
                        reply.on_chunk(sent)
                    sent += 1
                    if reply.chunk_delay:
                        time.sleep(reply.chunk_delay)
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _guarded(self):
                try:
                    self._serve()
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _guarded

        return Handler

    def start(self) -> "FakeAPI":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
