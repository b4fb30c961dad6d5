"""A tiny webhook receiver for Aftercare Exchange: verifies each delivery and prints the event.

Standard library HTTP server plus the ``standardwebhooks`` library (``pip install
standardwebhooks``); nothing else. Run it, subscribe its URL, and send a test ping:

    AFTERCARE_WEBHOOK_SECRET=whsec_... python examples/webhook_receiver.py --port 8787

    # the hub must be allowed to reach 127.0.0.1 (local demos only):
    #   AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS=true aftercare serve --demo
    curl -X POST http://127.0.0.1:8000/v1/webhooks -H "Authorization: Bearer $TOKEN" \\
         -H 'Content-Type: application/json' \\
         -d '{"url": "http://127.0.0.1:8787/hooks", "event_types": ["*"]}'
    # -> {"id": "...", "secret": "whsec_...", ...}: restart the receiver with that secret, then
    curl -X POST http://127.0.0.1:8000/v1/webhooks/<id>/test -H "Authorization: Bearer $TOKEN"

What a receiver must do (docs/webhooks.md):

- verify ``webhook-signature`` over the *raw* body with the secret before trusting anything
  (``Webhook.verify`` also refuses a ``webhook-timestamp`` more than five minutes off, which
  stops replays); during a secret rotation the hub sends two signatures and either one passes;
- answer 2xx quickly (within 10 s) and do the work afterwards; anything else is retried;
- drop duplicates by ``webhook-id`` (the event id, the same on every retry);
- treat the event as a hint: it carries ids only, so fetch the resource through the API.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

MAX_BODY_BYTES = 1_048_576
REMEMBERED_IDS = 10_000

Handler = Callable[[dict[str, Any]], None]


def print_event(event: dict[str, Any]) -> None:
    subject = event.get("subject") or {}
    print(
        f"{event.get('type')} {subject.get('type')}={subject.get('id')} "
        f"case={event.get('case_id')} data={json.dumps(event.get('data'), sort_keys=True)}",
        flush=True,
    )


class _Seen:
    """The last few thousand webhook ids, to drop redeliveries (a real receiver keeps these in
    its database, next to the work the event caused)."""

    def __init__(self, size: int = REMEMBERED_IDS) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def first_time(self, msg_id: str) -> bool:
        with self._lock:
            if msg_id in self._ids:
                return False
            self._ids[msg_id] = None
            if len(self._ids) > self._size:
                self._ids.popitem(last=False)
            return True


def make_server(
    secret: str, host: str = "127.0.0.1", port: int = 8787, on_event: Handler = print_event
) -> ThreadingHTTPServer:
    """An HTTP server that accepts a POST on any path when its signature verifies."""
    verifier = Webhook(secret)
    seen = _Seen()

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(413)
                return
            body = self.rfile.read(length)
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = verifier.verify(body, headers)
            except (WebhookVerificationError, ValueError):
                self._answer(401)  # not from the hub (or too old): do nothing with it
                return
            if seen.first_time(headers["webhook-id"]):
                on_event(event)
            self._answer(204)

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep stdout for the events

    return ThreadingHTTPServer((host, port), Receiver)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    args = parser.parse_args(argv)
    secret = os.environ.get("AFTERCARE_WEBHOOK_SECRET", "")
    if not secret.startswith("whsec_"):
        print("set AFTERCARE_WEBHOOK_SECRET to the subscription's whsec_… secret", file=sys.stderr)
        return 2
    server = make_server(secret, args.host, args.port)
    print(f"listening on http://{args.host}:{server.server_address[1]}/", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
