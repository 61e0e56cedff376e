"""The bot's HTTP client (chatops.transport.AiohttpRequest) as python-telegram-bot drives it: the
Bot API's answers through the Bot object, and its failures as python-telegram-bot's errors."""

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from telegram import Bot, InputFile
from telegram.error import InvalidToken, NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from chatops.transport import AiohttpRequest
from tests.chatops.botapi import BotApiServer
from tests.chatops.conftest import TOKEN


def run(coroutine):
    return asyncio.run(coroutine)


def test_the_bot_talks_to_the_bot_api_through_it():
    async def main(api):
        async with Bot(TOKEN, base_url=api.base_url, request=AiohttpRequest(connections=2)) as bot:
            message = await bot.send_message(chat_id=55, text="hello \u2713")
            await bot.edit_message_text(chat_id=55, message_id=message.message_id, text="edited")
            return message

    with BotApiServer(TOKEN) as api:
        message = run(main(api))
        assert (message.chat.id, message.text) == (55, "hello \u2713")
        assert [(s.method, s.text) for s in api.sent] == [
            ("sendMessage", "hello \u2713"),
            ("editMessageText", "edited"),
        ]


def test_a_refusal_a_dead_address_and_a_silent_server_are_telegram_errors():
    async def call(base_url, **options):
        request = AiohttpRequest(**options)
        await request.initialize()
        try:
            return await request.post(f"{base_url}{TOKEN}/getMe")
        finally:
            await request.shutdown()

    with BotApiServer(TOKEN) as api:
        with pytest.raises(InvalidToken):
            run(call(api.base_url.replace("/bot", "/bot1")))  # a wrong token: Telegram's 401

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(NetworkError, match="aiohttp"):
        run(call(f"http://127.0.0.1:{port}/bot"))

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    try:
        with pytest.raises(TimedOut):
            run(call(f"http://127.0.0.1:{silent.getsockname()[1]}/bot", read_timeout=0.3))
    finally:
        silent.close()


def test_a_file_goes_as_multipart():
    seen = {}

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):
            seen["type"] = self.headers["Content-Type"]
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            payload = b'{"ok": true, "result": true}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    async def main():
        request = AiohttpRequest()
        await request.initialize()
        try:
            data = RequestData(
                [
                    RequestParameter("chat_id", 9, None),
                    RequestParameter("document", "attach://doc", [InputFile(b"a,b\n1,2\n", filename="fills.csv")]),
                ]
            )
            return await request.do_request(f"http://127.0.0.1:{server.server_address[1]}/x", "POST", data)
        finally:
            await request.shutdown()

    try:
        status, body = run(main())
    finally:
        server.shutdown()
        server.server_close()
    assert (status, body) == (200, b'{"ok": true, "result": true}')
    assert seen["type"].startswith("multipart/form-data")
    assert b'filename="fills.csv"' in seen["body"] and b"a,b\n1,2\n" in seen["body"]
    assert b'name="chat_id"' in seen["body"]
