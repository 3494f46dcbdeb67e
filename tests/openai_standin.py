"""A small OpenAI-compatible chat server (stdlib http.server) for the failure cases a real server
cannot be made to produce on demand: HTTP 500, a slow answer, a non-vision model, a stall or a
dropped connection mid-answer. The happy path is tested against llama-cpp-python's real server
(tests/test_llama_server.py); this stand-in binds 127.0.0.1 only and records every request.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StandIn:
    """``mode``: ok | endless | slow | http500 | novision | stall | drop | nostream."""

    def __init__(self, models: tuple[str, ...] = ("vision-model",)) -> None:
        self.mode = "ok"
        self.models = models
        self.pieces = ["The screen ", "shows a ", "text editor. ", "It is empty."]
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.disconnected = threading.Event()
        self.delay_s = 0.01
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.headers.append(dict(self.headers))
                if self.path.endswith("/models"):
                    self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in outer.models]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                outer.requests.append(body)
                outer.headers.append(dict(self.headers))
                mode = outer.mode
                if mode == "http500":
                    return self._json(500, {"error": {"message": "internal failure"}})
                if mode == "novision":
                    return self._json(400, {"error": {"message": "This model does not support image input."}})
                if mode == "slow":
                    time.sleep(3.0)
                if mode == "nostream":
                    text = "".join(outer.pieces)
                    return self._json(200, {"choices": [{"message": {"role": "assistant", "content": text}}]})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                try:
                    pieces = outer.pieces if mode != "endless" else (f"word{i} " for i in range(100_000))
                    for index, piece in enumerate(pieces):
                        if mode in ("stall", "drop") and index == 2:
                            if mode == "stall":
                                time.sleep(3.0)
                            self.wfile.flush()
                            self.connection.shutdown(2)
                            return
                        event = {"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(outer.delay_s)
                    done = {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
                    self.wfile.write(f"data: {json.dumps(done)}\n\ndata: [DONE]\n\n".encode())
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    outer.disconnected.set()

            def _json(self, status: int, data: dict[str, Any]) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
