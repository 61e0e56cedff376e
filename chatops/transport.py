"""The bot's HTTP client to the Bot API: aiohttp behind python-telegram-bot's `BaseRequest`.

python-telegram-bot's default client (httpx) costs about half a millisecond of CPU more per call
than aiohttp, which the bot already has (ccxt uses it); at a reply per command that is a tenth
of what a command costs the bot. The parameters go as python-telegram-bot prepares them: a form
of JSON-encoded fields, or multipart when a file is attached.
"""

from __future__ import annotations

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """`connections` kept-alive connections to the Bot API; timeouts in seconds."""

    def __init__(
        self,
        *,
        connections: int = 16,
        read_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        pool_timeout: float = 10.0,
    ) -> None:
        self.connections = connections
        self._read_timeout = read_timeout
        self.connect_timeout = connect_timeout
        self.pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.connections),
                headers={"User-Agent": self.USER_AGENT},
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout=BaseRequest.DEFAULT_NONE,
        write_timeout=BaseRequest.DEFAULT_NONE,
        connect_timeout=BaseRequest.DEFAULT_NONE,
        pool_timeout=BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized.")
        # A long poll passes its own read timeout (the poll's seconds plus python-telegram-bot's margin).
        read = self._read_timeout if read_timeout is BaseRequest.DEFAULT_NONE else read_timeout
        connect = self.connect_timeout if connect_timeout is BaseRequest.DEFAULT_NONE else connect_timeout
        pool = self.pool_timeout if pool_timeout is BaseRequest.DEFAULT_NONE else pool_timeout
        # aiohttp's `connect` covers waiting for a free connection in the pool, then connecting.
        timeout = aiohttp.ClientTimeout(
            total=None, connect=(pool or 0) + (connect or 0) or None, sock_connect=connect, sock_read=read
        )
        data = None
        if request_data is not None:
            if request_data.contains_files:
                data = aiohttp.FormData(request_data.json_parameters)
                for name, (filename, content, mime) in request_data.multipart_data.items():
                    data.add_field(name, content, filename=filename, content_type=mime)
            else:
                data = request_data.json_parameters
        try:
            async with self._session.request(method, url, data=data, timeout=timeout) as response:
                return response.status, await response.read()
        except TimeoutError as exc:
            raise TimedOut from exc
        except aiohttp.ClientError as exc:
            raise NetworkError(f"aiohttp.{exc.__class__.__name__}: {exc}") from exc
