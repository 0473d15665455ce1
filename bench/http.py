"""A deliberately thin HTTP/1.1 keep-alive client, so the client's own cost stays out of the figures.

``httpx`` or ``http.client`` would do, but they spend more time per request than some of the
hub's routes take; this one sends prepared bytes and reads one response per request.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(
    method: str,
    path: str,
    token: str | None = None,
    body: bytes | None = None,
    content_type: str = "application/json",
    host: str = "127.0.0.1",
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += [f"Content-Type: {content_type}", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def _parse_head(head: bytes) -> tuple[int, int]:
    """Status code and Content-Length of a response head (no chunked bodies: the hub sends none)."""
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return status, length


class Client:
    """One keep-alive connection, used from one thread."""

    def __init__(self, host: str, port: int, token: str | None = None, timeout: float = 30) -> None:
        self.host, self.port, self.token = host, port, token
        self._timeout = timeout
        self._connect()

    def _connect(self) -> None:
        self._sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def close(self) -> None:
        self._sock.close()

    def send_raw(self, data: bytes) -> Response:
        try:
            return self._exchange(data)
        except (ConnectionError, BrokenPipeError):
            # uvicorn closes a keep-alive connection idle for 5 s: reconnect once and resend.
            self._sock.close()
            self._connect()
            return self._exchange(data)

    def _exchange(self, data: bytes) -> Response:
        self._sock.sendall(data)
        while b"\r\n\r\n" not in self._buf:
            self._read()
        head, _, self._buf = self._buf.partition(b"\r\n\r\n")
        status, length = _parse_head(head)
        while len(self._buf) < length:
            self._read()
        body, self._buf = self._buf[:length], self._buf[length:]
        return Response(status, body)

    def _read(self) -> None:
        chunk = self._sock.recv(262144)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self._buf += chunk

    def get(self, path: str, **params: Any) -> Response:
        if params:
            path = f"{path}?{urlencode(params)}"
        return self.send_raw(request_bytes("GET", path, self.token))

    def post(self, path: str, payload: Any, headers: dict[str, str] | None = None) -> Response:
        body = json.dumps(payload).encode()
        raw = request_bytes("POST", path, self.token, body)
        if headers:
            extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
            head, _, rest = raw.partition(b"\r\n")
            raw = head + b"\r\n" + extra + rest
        return self.send_raw(raw)

    def post_form(self, path: str, form: dict[str, str]) -> Response:
        body = urlencode(form).encode()
        return self.send_raw(
            request_bytes("POST", path, None, body, content_type="application/x-www-form-urlencoded")
        )


async def _hammer(
    host: str, port: int, raw: bytes, until: float, counts: list[int], errors: list[int], i: int
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while time.monotonic() < until:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            status, length = _parse_head(head[:-4])
            if length:
                await reader.readexactly(length)
            if status == 200:
                counts[i] += 1
            else:
                errors[i] += 1
    finally:
        writer.close()


def closed_loop(host: str, port: int, raw: bytes, connections: int, seconds: float) -> tuple[int, int, float]:
    """``connections`` clients each sending ``raw`` back to back for ``seconds``.

    Returns (successful responses, other responses, elapsed seconds).
    """
    counts = [0] * connections
    errors = [0] * connections

    async def main() -> float:
        start = time.monotonic()
        until = start + seconds
        await asyncio.gather(
            *(_hammer(host, port, raw, until, counts, errors, i) for i in range(connections))
        )
        return time.monotonic() - start

    elapsed = asyncio.run(main())
    return sum(counts), sum(errors), elapsed
