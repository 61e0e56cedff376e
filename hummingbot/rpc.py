"""Commands to Hummingbot instances over MQTT: a request in the RPC envelope on
`<namespace>/<instance_id>/<command>` (QoS 1), the answer on a reply topic of ours.

The envelope has no request id: a call is identified by its reply topic. One connection serves
every call of a process; it subscribes once to `<reply base>/#` and gives each call its own
`<reply base>/<call id>`, so a call costs one publish and one answer. A retry re-sends the same
request (same reply topic), so an answer to the first attempt that arrives late still completes
the call, and answers after the first (duplicates, late ones) are ignored.

Commands are at least once: the broker may deliver a request twice and a retry sends it again, so
an instance can run a command twice. The command logic above this (hummingbot.commands) is
idempotent for that reason.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from core.errors import ApplicationError
from hummingbot import wire

if TYPE_CHECKING:
    from hummingbot.models import HummingbotInstance

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_RETRIES = 1
CONNECT_TIMEOUT = 5.0


class CommandTimeout(ApplicationError):
    """No answer in time (after the retries): the command may or may not have run."""

    def __init__(self, message: str, *, command: str = "", attempts: int = 0, code: str = "timeout") -> None:
        super().__init__(message, code=code)
        self.command = command
        self.attempts = attempts


class BrokerUnavailable(CommandTimeout):
    """The MQTT broker could not be reached, so the command was not sent."""

    def __init__(self, message: str, *, command: str = "", attempts: int = 0) -> None:
        super().__init__(message, command=command, attempts=attempts, code="unavailable")


class CommandRefused(ApplicationError):
    """The instance answered with an error status; `msg` is its explanation."""

    def __init__(self, message: str, *, status: int = wire.ERROR, msg: str = "", data: dict | None = None) -> None:
        super().__init__(message, code="refused")
        self.status = status
        self.msg = msg or message
        self.data = data or {}


class MalformedAnswer(ApplicationError):
    """The answer was not the envelope Hummingbot sends (not JSON, or no `data` object)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="malformed")


def address(target: HummingbotInstance | tuple[str, str]) -> tuple[str, str]:
    """(namespace, instance_id) of an instance or of such a pair."""
    if isinstance(target, tuple):
        namespace, instance_id = target
    else:
        namespace, instance_id = target.namespace, target.instance_id
    wildcards = any(char in f"{namespace}{instance_id}" for char in "+#")
    if not namespace or not instance_id or "/" in instance_id or wildcards:
        raise ValueError(f"Not an instance address: {namespace!r}, {instance_id!r}")
    return namespace, instance_id


def parse_answer(raw: bytes, *, where: str) -> dict[str, Any]:
    """The `data` of an answer if its status is 200; CommandRefused or MalformedAnswer otherwise."""
    try:
        message = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedAnswer(f"{where}: the answer is not JSON ({bytes(raw[:80])!r}).") from exc
    data = message.get("data") if isinstance(message, dict) else None
    if not isinstance(data, dict):
        raise MalformedAnswer(f"{where}: the answer has no data object ({bytes(raw[:80])!r}).")
    status = data.get("status", wire.OK)
    if status == wire.OK:
        return data
    msg = str(data.get("msg") or "")
    raise CommandRefused(f"{where} refused: {msg or f'status {status}'}", status=status, msg=msg, data=data)


def _no_delay(client, userdata, sock) -> None:
    # Requests and answers are small packets: with Nagle's algorithm on, a packet waits behind the
    # peer's delayed ACK of the previous one (40 ms on Linux), and an RPC has several such waits.
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _Pending:
    __slots__ = ("answer", "done")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.answer: bytes | None = None


class RpcClient:
    """A connection to the broker that sends commands and collects their answers.

    Thread-safe: any number of threads may `call()` at once, each waiting for its own answer.
    Connects on first use; paho reconnects by itself after a broker restart.
    """

    def __init__(self, *, agent: str = "backoffice", connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.agent = agent
        self.connect_timeout = connect_timeout
        self.client_id = f"{agent}-rpc-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self.reply_base = wire.reply_topic(agent)
        self.stray_answers = 0  # duplicates and answers to calls that gave up
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._subscribed = threading.Event()
        self._sub_mid: int | None = None
        self._client = None
        self._broker: dict[str, Any] = {}

    def __enter__(self) -> RpcClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- connection ---------------------------------------------------------------------------------
    def connect(self) -> None:
        """Connect and subscribe to the reply topics, or raise BrokerUnavailable."""
        with self._connect_lock:
            if self._client is None:
                client, conf = wire.mqtt_client(self.client_id)
                client.on_connect = self._on_connect
                client.on_subscribe = self._on_subscribe
                client.on_disconnect = self._on_disconnect
                client.on_message = self._on_message
                client.on_socket_open = _no_delay
                self._broker = conf
                try:
                    client.connect(conf["host"], conf["port"], keepalive=30)
                except OSError as exc:
                    where = f"{conf['host']}:{conf['port']}"
                    raise BrokerUnavailable(f"The MQTT broker at {where} is unreachable: {exc}") from exc
                client.loop_start()
                self._client = client
        if not self._subscribed.wait(self.connect_timeout):
            raise BrokerUnavailable(
                f"No session with the MQTT broker at {self._broker['host']}:{self._broker['port']} "
                f"after {self.connect_timeout:g} s."
            )

    def close(self) -> None:
        """Disconnect; calls still waiting time out."""
        with self._connect_lock:
            client, self._client = self._client, None
            self._subscribed.clear()
        if client is not None:
            client.disconnect()
            client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties=None) -> None:
        if reason_code.is_failure:
            logger.warning("The MQTT broker refused the RPC client: %s", reason_code)
            return
        _, self._sub_mid = client.subscribe(f"{self.reply_base}/#", qos=1)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None) -> None:
        if mid == self._sub_mid and not any(code.is_failure for code in reason_codes):
            self._subscribed.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties=None) -> None:
        self._subscribed.clear()

    def _on_message(self, client, userdata, message) -> None:
        call_id = message.topic.rpartition("/")[2]
        with self._lock:
            pending = self._pending.get(call_id)
            if pending is None or pending.done.is_set():
                self.stray_answers += 1
                return
            pending.answer = message.payload
            pending.done.set()

    # -- calls --------------------------------------------------------------------------------------
    def call(
        self,
        target: HummingbotInstance | tuple[str, str],
        command: str,
        data: dict[str, Any] | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
    ) -> dict[str, Any]:
        """Send `command` with `data` and return the answer's `data` (status 200).

        Waits `timeout` seconds per attempt and re-sends up to `retries` times. Raises
        CommandTimeout (no answer), CommandRefused (status 400) or MalformedAnswer.
        """
        if command not in wire.COMMANDS:
            raise ValueError(f"Unknown Hummingbot command {command!r}")
        namespace, instance_id = address(target)
        where = f"/{command} on {namespace}/{instance_id}"
        self.connect()
        call_id = uuid.uuid4().hex
        body = wire.request(data or {}, reply_to=f"{self.reply_base}/{call_id}", agent=self.agent)
        topic = wire.topic(namespace, instance_id, command)
        pending = _Pending()
        with self._lock:
            self._pending[call_id] = pending
        attempts = 0
        try:
            while attempts <= retries:
                attempts += 1
                client = self._client
                if client is None:
                    raise BrokerUnavailable(f"{where}: the RPC client is closed.", command=command, attempts=attempts)
                client.publish(topic, body, qos=1)
                if pending.done.wait(timeout):
                    break
                logger.info("%s: no answer after %g s (attempt %d of %d)", where, timeout, attempts, retries + 1)
            else:
                raise CommandTimeout(
                    f"{where}: no answer after {attempts} attempt{'s' if attempts > 1 else ''} of {timeout:g} s.",
                    command=command,
                    attempts=attempts,
                )
        finally:
            with self._lock:
                self._pending.pop(call_id, None)
        return parse_answer(pending.answer or b"", where=where)


_default: RpcClient | None = None
_default_pid: int | None = None
_default_lock = threading.Lock()


def default_client() -> RpcClient:
    """The process's client; a forked worker (Celery prefork) gets its own."""
    global _default, _default_pid
    with _default_lock:
        if _default is None or _default_pid != os.getpid():
            _default, _default_pid = RpcClient(), os.getpid()
        return _default


def close_default_client() -> None:
    """Close the process's client (tests, worker shutdown); the next call opens a new one."""
    global _default, _default_pid
    with _default_lock:
        client, pid = _default, _default_pid
        _default, _default_pid = None, None
    if client is not None and pid == os.getpid():
        client.close()


def rpc_call(
    instance: HummingbotInstance | tuple[str, str],
    command: str,
    data: dict[str, Any] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    retries: int = DEFAULT_RETRIES,
) -> dict[str, Any]:
    """Send one command through the process-wide client; see RpcClient.call."""
    return default_client().call(instance, command, data, timeout=timeout, retries=retries)
