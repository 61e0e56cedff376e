"""A loopback server that speaks the OpenAI API for the AI factor's tests: `POST /v1/chat/completions`
and `GET /v1/models`, answering like the real API (JSON bodies, `{"error": {...}}` on failure,
`retry-after` on 429). It counts every request and answers from a script, one entry per request,
then with the default answer::

    with OpenAiServer() as server:
        server.answer_with('{"side": "buy", "confidence": 0.7, "reasoning": "trend"}', prompt=900, completion=60)
        server.fail(429, headers={"retry-after": "20"})   # the next request
        server.hang(2.0)                                  # the one after: answers after 2 s
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODELS = ["gpt-test-mini", "gpt-test-large"]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


@dataclass
class Step:
    """One scripted answer: a status with a JSON body (or raw bytes), after an optional delay."""

    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] | None = None
    delay: float = 0.0


def completion(content: str, *, prompt: int, completion: int, model: str = MODELS[0]) -> dict[str, Any]:
    """A chat.completion object as the API returns it."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
    }


def api_error(status: int, message: str) -> dict[str, Any]:
    kind = {429: "rate_limit_exceeded", 401: "invalid_api_key"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": kind}}


class OpenAiServer:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[Step] = []
        self.default = Step(
            body=completion('{"side": "neutral", "confidence": 0, "reasoning": ""}', prompt=1, completion=1)
        )
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                owner.handle(self, None)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.handle(self, raw)

            def log_message(self, format, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> OpenAiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- script ---------------------------------------------------------------------------------
    def answer_with(self, content: str, *, prompt: int, completion: int) -> OpenAiServer:
        """Queue a 200 chat completion whose message content is `content`."""
        self.script.append(Step(body=globals()["completion"](content, prompt=prompt, completion=completion)))
        return self

    def fail(self, status: int, message: str = "failed", headers: dict[str, str] | None = None) -> OpenAiServer:
        self.script.append(Step(status=status, body=api_error(status, message), headers=headers))
        return self

    def then(self, step: Step) -> OpenAiServer:
        self.script.append(step)
        return self

    def hang(self, seconds: float) -> OpenAiServer:
        """The next request is answered (with the default) only after `seconds`."""
        self.script.append(Step(body=self.default.body, delay=seconds))
        return self

    def count(self, path: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if path is None or r.path.endswith(path))

    # -- serving --------------------------------------------------------------------------------
    def handle(self, handler: BaseHTTPRequestHandler, raw: bytes | None) -> None:
        body = json.loads(raw) if raw else None
        with self.lock:
            self.requests.append(Request(handler.command, handler.path, dict(handler.headers), body))
            step = self.script.pop(0) if self.script else None
        if step is None:
            if handler.path == "/v1/models" and handler.command == "GET":
                step = Step(
                    body={"object": "list", "data": [{"id": m, "object": "model", "owned_by": "test"} for m in MODELS]}
                )
            elif handler.path == "/v1/chat/completions" and handler.command == "POST":
                step = self.default
            else:
                step = Step(status=404, body=api_error(404, "not found"))
        if step.delay:
            time.sleep(step.delay)
        payload = step.raw if step.raw is not None else json.dumps(step.body).encode()
        try:
            handler.send_response(step.status)
            for name, value in (step.headers or {}).items():
                handler.send_header(name, value)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            pass
