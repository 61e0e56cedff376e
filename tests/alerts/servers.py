"""Loopback servers that speak the outside world's APIs: the Telegram Bot API (sendMessage) and a
webhook receiver that answers like a generic endpoint, Slack or Discord. Each records what it got
and answers from a script (default: success)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    raw: bytes
    at: float
    fields: dict[str, Any] = field(default_factory=dict)


class _Server:
    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[tuple[int, Any, dict[str, str]]] = []  # status, body, headers
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body, headers = owner.answer(self.path, dict(self.headers), raw)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if payload:
                    self.send_header("Content-Type", headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)

            def log_message(self, format, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def start(self) -> _Server:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def then(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> _Server:
        """Queue one answer; once the script is used up, requests succeed."""
        self.script.append((status, body, headers or {}))
        return self

    def wait_for(self, n: int, timeout: float = 30) -> list[Received]:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self.lock:
                if len(self.received) >= n:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {n} request(s), got {len(self.received)}")

    def answer(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


class TelegramServer(_Server):
    """POST /bot<token>/sendMessage with chat_id, text and parse_mode (JSON or form encoded, as
    the real API accepts both); answers {"ok": true, "result": <Message>} or the scripted error."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.message_id = 0

    def answer(self, path, headers, raw):
        if headers.get("Content-Type", "").startswith("application/json"):
            fields = json.loads(raw or b"{}")
        else:
            fields = dict(parse_qsl(raw.decode()))
        with self.lock:
            self.received.append(Received(path, headers, raw, time.monotonic(), fields))
            scripted = self.script.pop(0) if self.script else None
        if path != f"/bot{self.token}/sendMessage":
            return (
                401 if path.startswith("/bot") else 404,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
                {},
            )
        if scripted is not None:
            return scripted
        self.message_id += 1
        chat = fields.get("chat_id")
        result = {
            "message_id": self.message_id,
            "date": int(time.time()),
            "chat": {"id": int(chat) if str(chat).lstrip("-").isdigit() else 0, "type": "private"},
            "text": fields.get("text", ""),
        }
        return 200, {"ok": True, "result": result}, {}

    def too_many_requests(self, retry_after: int) -> TelegramServer:
        description = f"Too Many Requests: retry after {retry_after}"
        body = {"ok": False, "error_code": 429, "description": description, "parameters": {"retry_after": retry_after}}
        return self.then(429, body, {"Retry-After": str(retry_after)})

    def bad_request(self, description: str) -> TelegramServer:
        return self.then(400, {"ok": False, "error_code": 400, "description": description})


class WebhookReceiver(_Server):
    """Records every POST. `style` sets the success answer: "webhook" 200 {}, "slack" 200 "ok",
    "discord" 204 with no body."""

    def __init__(self, style: str = "webhook") -> None:
        super().__init__()
        self.style = style

    def answer(self, path, headers, raw):
        with self.lock:
            self.received.append(Received(path, headers, raw, time.monotonic(), json.loads(raw or b"{}")))
            scripted = self.script.pop(0) if self.script else None
        if scripted is not None:
            return scripted
        if self.style == "slack":
            return 200, b"ok", {"Content-Type": "text/html"}
        if self.style == "discord":
            return 204, None, {}
        return 200, {"received": True}, {}
