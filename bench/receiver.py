"""A small, fast webhook receiver on 127.0.0.1 (asyncio, HTTP/1.1 keep-alive).

Used by the worker tests and ``python -m bench.events``: it keeps every request (headers and
body) with the moment it arrived, and answers by a script: a function of the request returning
the status (``302`` also sends ``Location: /elsewhere``). It is not a general HTTP server: it
reads requests with ``Content-Length`` bodies, which is what the worker sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_REASONS = {200: "OK", 204: "No Content", 302: "Found", 404: "Not Found", 500: "Error"}


@dataclass(frozen=True, slots=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


Script = Callable[[Received], int]


def always(status: int) -> Script:
    return lambda _: status


class _Protocol(asyncio.Protocol):
    def __init__(self, receiver: Receiver) -> None:
        self.receiver = receiver
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.receiver.connections += 1
        self.receiver._transports.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.receiver._transports.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            length = int(headers.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            parts = lines[0].split(" ")
            request = Received(parts[1] if len(parts) > 1 else "/", headers, body, time.time())
            self.receiver.received += 1
            if self.receiver.keep:
                self.receiver.requests.append(request)
            status = self.receiver.script(request)
            extra = "Location: /elsewhere\r\n" if 300 <= status < 400 else ""
            answer = (
                f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
                f"Content-Length: 0\r\n{extra}\r\n".encode()
            )
            if self.receiver.delay > 0:
                asyncio.get_running_loop().call_later(self.receiver.delay, self._write, answer)
            else:
                self._write(answer)
            self.receiver.arrived.set()

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)


@dataclass
class Receiver:
    script: Script = field(default=always(204))
    delay: float = 0.0  # seconds before each answer
    requests: list[Received] = field(default_factory=list)
    keep: bool = True  # keep every request in ``requests`` (False: only count them)
    received: int = 0
    connections: int = 0
    port: int = 0
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _server: asyncio.Server | None = None
    _transports: set[asyncio.Transport] = field(default_factory=set)

    async def start(self) -> Receiver:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Protocol(self), "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for transport in list(self._transports):
                transport.close()
            await self._server.wait_closed()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for(self, count: int, timeout: float = 10.0) -> bool:
        """True once at least ``count`` requests arrived; False when ``timeout`` passed first."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), min(remaining, 0.5))
        return True


# -- as a process: `python -m bench.receiver --port P --out FILE` -------------------------------
def main(argv: list[str] | None = None) -> None:
    """Answer 204 to everything until SIGTERM/SIGINT, then write one line per request
    (``webhook-id<TAB>arrival time``) to ``--out``; with ``--count-only`` (a long soak: memory
    stays flat) only ``count<TAB><requests>``. Prints ``ready <port>`` once listening."""
    import argparse
    import signal

    parser = argparse.ArgumentParser(prog="python -m bench.receiver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--out", required=True)
    parser.add_argument("--count-only", action="store_true", help="keep no request, count them")
    args = parser.parse_args(argv)

    async def run() -> None:
        receiver = Receiver(keep=not args.count_only)
        loop = asyncio.get_running_loop()
        receiver._server = await loop.create_server(
            lambda: _Protocol(receiver), "127.0.0.1", args.port
        )
        receiver.port = receiver._server.sockets[0].getsockname()[1]
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        print(f"ready {receiver.port}", flush=True)
        await stop.wait()
        await receiver.stop()
        with open(args.out, "w") as out:
            if args.count_only:
                out.write(f"count\t{receiver.received}\n")
            out.writelines(f"{r.webhook_id}\t{r.at!r}\n" for r in receiver.requests)

    asyncio.run(run())


if __name__ == "__main__":
    main()
