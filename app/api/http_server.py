"""The HTTP/1.1 connection handling of ``aftercare serve``: uvicorn's (httptools), with a limit
on the requests one connection serves.

Several server processes (``aftercare serve --workers N``) share one listening socket, and a
connection belongs to the process that accepted it for as long as it lives. A partner's client
keeps its connection open (HTTP keep-alive) and sends everything through it, so the split of
the load between the processes is the split of the connections when they were opened, however
uneven: in the soak, 25 of the 40 clients' connections went to one of the two processes, which
then did 61 % of the app's work (by CPU time). Like nginx (``keepalive_requests``) and Hypercorn
(``keep_alive_max_requests``), a connection is closed after ``max_requests`` responses (the
last one says ``Connection: close``; HTTP clients then open a new one, by themselves). A new
connection goes to whichever process accepts it first (one that is not busy, if the other is),
so an uneven split lasts until the connections are renewed, not for as long as they live: in the
same soak with renewal, the split was drawn again every 20 s or so (16/24, 23/17, 14/26).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import Settings


class RenewedConnections(HttpToolsProtocol):
    """uvicorn's httptools protocol, closing the connection after ``max_requests`` responses
    (set by each server process from its settings before it serves: :func:`configure`)."""

    max_requests: int = Settings.model_fields["keepalive_max_requests"].default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._requests = 0

    def on_headers_complete(self) -> None:
        before = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is None or cycle is before:
            return  # (an upgrade: no request cycle of its own)
        self._requests += 1
        if self._requests >= self.max_requests:
            cycle.keep_alive = False  # answered with "connection: close", then closed


def configure(max_requests: int) -> None:
    RenewedConnections.max_requests = max_requests
