"""A loopback server speaking the Telegram Bot API as python-telegram-bot uses it: getMe,
getUpdates (long polling on a queue of updates the test pushes), sendMessage, editMessageText,
answerCallbackQuery, setWebhook/deleteWebhook/getWebhookInfo. It keeps every chat's messages so
a test reads what the bot said, and refuses what Telegram refuses (a text over 4,096 characters,
an unknown message to edit, a wrong token, getUpdates while a webhook is set).

With a webhook set, updates are posted to its URL as Telegram does: JSON, one at a time, with
the secret token in X-Telegram-Bot-Api-Secret-Token; an update that is not answered 2xx is sent
again (three tries), and every answer is kept in `deliveries`."""

from __future__ import annotations

import itertools
import json
import queue
import re
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

MAX_TEXT = 4096
BOT_USER = {"id": 900000001, "is_bot": True, "first_name": "Desk", "username": "desk_bot"}


@dataclass
class Sent:
    method: str
    chat_id: int
    message_id: int
    text: str
    reply_markup: dict[str, Any] | None = None
    at: float = field(default_factory=time.monotonic)

    def buttons(self) -> list[dict[str, Any]]:
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]


class BotApiServer:
    def __init__(self, token: str) -> None:
        self.token = token
        self.updates: list[dict[str, Any]] = []
        self.sent: list[Sent] = []
        # The same messages by chat and by id: a wait or an edit looks at one chat's or one
        # message's, not at every message sent so far (a bench sends thousands).
        self._sent_by_chat: dict[int, list[Sent]] = {}
        self._message_ids_sent: set[int] = set()
        self.answered: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.deliveries: list[tuple[int, int]] = []  # (update_id, HTTP status) of each webhook post
        self._outbox: queue.Queue = queue.Queue()
        self._deliverer = threading.Thread(target=self._deliver_forever, daemon=True)
        self.calls: list[str] = []
        self.cond = threading.Condition()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without TCP_NODELAY the body waits for the
            # client's delayed ACK (40 ms a response on Linux), which Telegram's servers do not add.
            disable_nagle_algorithm = True

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status, body = owner.handle(self.path, self.headers.get("Content-Type", ""), raw)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                self.do_POST()

            def log_message(self, format, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- lifecycle --------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        """What python-telegram-bot takes as base_url (the token is appended)."""
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/bot"

    def __enter__(self) -> BotApiServer:
        self.thread.start()
        self._deliverer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._outbox.put(None)
        with self.cond:
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()

    # -- what a test does -------------------------------------------------------------------------
    def _user(self, chat_id: int, username: str | None) -> dict[str, Any]:
        user = {"id": chat_id, "is_bot": False, "first_name": f"user{chat_id}"}
        if username:
            user["username"] = username
        return user

    def push(self, update: dict[str, Any]) -> int:
        with self.cond:
            update = {"update_id": next(self._update_ids), **update}
            if self.webhook.get("url"):
                self._outbox.put(update)
            else:
                self.updates.append(update)
            self.cond.notify_all()
        return update["update_id"]

    def _deliver_forever(self) -> None:
        while (update := self._outbox.get()) is not None:
            for _attempt in range(3):
                status = self._post(update)
                with self.cond:
                    self.deliveries.append((update["update_id"], status))
                    self.cond.notify_all()
                if 200 <= status < 300:
                    break
                time.sleep(0.2)

    def _post(self, update: dict[str, Any]) -> int:
        headers = {"Content-Type": "application/json"}
        if self.webhook.get("secret_token"):
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
        # The URL was checked http(s) by setWebhook.
        request = urllib.request.Request(self.webhook["url"], data=json.dumps(update).encode(), headers=headers)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0

    def wait_delivered(self, update_id: int, timeout: float = 15) -> list[int]:
        """The HTTP statuses our webhook answered for the update, once it was answered 2xx or tried three times."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                statuses = [status for uid, status in self.deliveries if uid == update_id]
                if any(200 <= s < 300 for s in statuses) or len(statuses) >= 3:
                    return statuses
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"update {update_id} was not delivered: {statuses}")
                self.cond.wait(left)

    def send_text(self, chat_id: int, text: str, *, username: str | None = None, chat_type: str = "private") -> int:
        """A user types `text` in their chat with the bot."""
        entities = []
        if text.startswith("/"):
            entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": chat_type},
            "from": self._user(chat_id, username),
            "text": text,
            "entities": entities,
        }
        return self.push({"message": message})

    def press(self, sent: Sent, data: str, *, chat_id: int | None = None, forged: bool = False) -> str:
        """A user presses the inline button whose callback_data is `data` under `sent` (`forged`:
        a client sends data no button of that message carries)."""
        if not forged:
            assert data in [b.get("callback_data") for b in sent.buttons()], f"no button {data!r} in {sent.buttons()}"
        query_id = str(next(self._callback_ids))
        who = chat_id or sent.chat_id
        self.push(
            {
                "callback_query": {
                    "id": query_id,
                    "from": self._user(who, None),
                    "chat_instance": str(sent.chat_id),
                    "data": data,
                    "message": {
                        "message_id": sent.message_id,
                        "date": int(time.time()),
                        "chat": {"id": sent.chat_id, "type": "private"},
                        "from": BOT_USER,
                        "text": sent.text,
                    },
                }
            }
        )
        return query_id

    def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10) -> list[Sent]:
        """The chat's messages once at least `count` are there (edits included)."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                got = list(self._sent_by_chat.get(chat_id, ()))
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"chat {chat_id} got {len(got)} messages, wanted {count}: {got}")
                self.cond.wait(left)

    def wait_answered(self, query_id: str, timeout: float = 10) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for answer in self.answered:
                    if answer.get("callback_query_id") == query_id:
                        return answer
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"callback {query_id} was not answered")
                self.cond.wait(left)

    # -- the API ----------------------------------------------------------------------------------
    def handle(self, path: str, content_type: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        prefix = f"/bot{self.token}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix) :]
        if content_type.startswith("application/json"):
            fields = json.loads(raw or b"{}")
        else:
            fields = dict(parse_qsl(raw.decode()))
        for key in ("reply_markup", "allowed_updates"):
            if isinstance(fields.get(key), str):
                fields[key] = json.loads(fields[key])
        self.calls.append(method)
        handler = getattr(self, "api_" + re.sub(r"(?<!^)([A-Z])", r"_\1", method).lower(), None)
        if handler is None:
            return 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        return handler(fields)

    @staticmethod
    def ok(result: Any) -> tuple[int, dict[str, Any]]:
        return 200, {"ok": True, "result": result}

    @staticmethod
    def bad(description: str) -> tuple[int, dict[str, Any]]:
        return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {description}"}

    def api_get_me(self, fields):
        return self.ok(BOT_USER)

    def api_get_updates(self, fields):
        if self.webhook.get("url"):
            return 409, {
                "ok": False,
                "error_code": 409,
                "description": "Conflict: can't use getUpdates method while webhook is active",
            }
        offset = int(fields.get("offset") or 0)
        limit = int(fields.get("limit") or 100)
        timeout = min(float(fields.get("timeout") or 0), 5.0)
        deadline = time.monotonic() + timeout
        with self.cond:
            # Confirming an offset forgets the updates before it, as Telegram does.
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
            while not self.updates and time.monotonic() < deadline:
                self.cond.wait(deadline - time.monotonic())
            return self.ok(self.updates[:limit])

    def _message(self, method: str, fields, message_id: int | None = None):
        text = str(fields.get("text") or "")
        if not text.strip():
            return self.bad("message text is empty")
        if len(text) > MAX_TEXT:
            return self.bad("message is too long")
        chat_id = int(fields["chat_id"])
        sent = Sent(method, chat_id, message_id or next(self._message_ids), text, fields.get("reply_markup"))
        with self.cond:
            self.sent.append(sent)
            self._sent_by_chat.setdefault(chat_id, []).append(sent)
            self._message_ids_sent.add(sent.message_id)
            self.cond.notify_all()
        result = {
            "message_id": sent.message_id,
            "date": int(time.time()),
            "chat": {"id": chat_id, "type": "private"},
            "from": BOT_USER,
            "text": text,
        }
        if sent.reply_markup:
            result["reply_markup"] = sent.reply_markup
        return self.ok(result)

    def api_send_message(self, fields):
        return self._message("sendMessage", fields)

    def api_edit_message_text(self, fields):
        message_id = int(fields.get("message_id") or 0)
        if message_id not in self._message_ids_sent:
            return self.bad("message to edit not found")
        return self._message("editMessageText", fields, message_id)

    def api_answer_callback_query(self, fields):
        with self.cond:
            self.answered.append(fields)
            self.cond.notify_all()
        return self.ok(True)

    def api_set_webhook(self, fields):
        url = str(fields.get("url") or "")
        if url and not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            return self.bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = fields.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            return self.bad("secret token contains unallowed characters")
        self.webhook = {"url": url, "secret_token": secret, "allowed_updates": fields.get("allowed_updates")}
        return self.ok(True)

    def api_delete_webhook(self, fields):
        self.webhook = {}
        return self.ok(True)

    def api_get_webhook_info(self, fields):
        return self.ok({"url": self.webhook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 0})

    def api_set_my_commands(self, fields):
        return self.ok(True)
