"""examples/webhook_receiver.py: the partner's first receiver verifies what the hub signs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest

from app.domain.webhook_signing import generate_secret, sign_headers

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "webhook_receiver.py"


def receiver_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("webhook_receiver", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def event_body() -> bytes:
    hook_id = str(uuid.uuid4())
    return orjson.dumps(
        {
            "id": str(uuid.uuid4()),
            "type": "webhook.test",
            "occurred_at": "2026-11-30T12:00:00Z",
            "subject": {"type": "webhook", "id": hook_id},
            "case_id": None,
            "data": {"webhook_id": hook_id},
        }
    )


@pytest.fixture
def served() -> Iterator[tuple[str, str, list[dict[str, Any]]]]:
    secret = generate_secret()
    received: list[dict[str, Any]] = []
    server = receiver_module().make_server(secret, "127.0.0.1", 0, received.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks", secret, received
    finally:
        server.shutdown()
        server.server_close()


def test_a_signed_delivery_is_accepted_once(
    served: tuple[str, str, list[dict[str, Any]]],
) -> None:
    url, secret, received = served
    body = event_body()
    event = orjson.loads(body)
    headers = sign_headers([secret], event["id"], body)
    first = httpx.post(url, content=body, headers=headers)
    assert first.status_code == 204
    assert received == [event]
    again = httpx.post(url, content=body, headers=sign_headers([secret], event["id"], body))
    assert again.status_code == 204  # a redelivery is acknowledged, not handled twice
    assert received == [event]


def test_during_a_rotation_either_secret_verifies(
    served: tuple[str, str, list[dict[str, Any]]],
) -> None:
    url, secret, received = served
    body = event_body()
    # the hub signs with the new secret and the old one; this receiver still holds the old one
    headers = sign_headers([generate_secret(), secret], orjson.loads(body)["id"], body)
    assert httpx.post(url, content=body, headers=headers).status_code == 204
    assert len(received) == 1


def test_forged_tampered_or_stale_deliveries_are_refused(
    served: tuple[str, str, list[dict[str, Any]]],
) -> None:
    url, secret, received = served
    body = event_body()
    msg_id = orjson.loads(body)["id"]
    forged = sign_headers([generate_secret()], msg_id, body)
    stale = sign_headers([secret], msg_id, body, timestamp=datetime.now(UTC) - timedelta(hours=1))
    tampered = body.replace(b"webhook.test", b"case.closed_")
    for content, headers in (
        (body, forged),
        (body, stale),
        (tampered, sign_headers([secret], msg_id, body)),
        (body, {"webhook-id": msg_id}),
        (body, {**sign_headers([secret], msg_id, body), "webhook-signature": "v1"}),
    ):
        assert httpx.post(url, content=content, headers=headers).status_code == 401
    assert received == []


def test_the_script_prints_a_verified_event() -> None:
    secret = generate_secret()
    env = {**os.environ, "AFTERCARE_WEBHOOK_SECRET": secret, "PYTHONUNBUFFERED": "1"}
    with subprocess.Popen(  # noqa: S603 - our own example script
        [sys.executable, str(SCRIPT), "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            assert banner.startswith("listening on http://127.0.0.1:"), banner
            url = banner.split()[-1] + "hooks"
            body = event_body()
            event = orjson.loads(body)
            headers = sign_headers([secret], event["id"], body)
            assert httpx.post(url, content=body, headers=headers).status_code == 204
            line = process.stdout.readline()
            assert line.startswith(f"webhook.test webhook={event['subject']['id']} case=None")
        finally:
            process.terminate()
            process.wait(timeout=10)


def test_the_script_needs_a_secret() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AFTERCARE_WEBHOOK_SECRET"}
    result = subprocess.run(  # noqa: S603 - our own example script
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2 and "AFTERCARE_WEBHOOK_SECRET" in result.stderr
