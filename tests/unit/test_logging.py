"""What the log configuration lets through (app/logging.py)."""

from __future__ import annotations

import io
import logging

from app.logging import configure_logging


def test_http_clients_do_not_log_request_urls() -> None:
    """httpx logs each request's full URL at INFO; a webhook receiver's URL may carry a
    partner's credential in its query string, so those loggers start at WARNING."""
    stream = io.StringIO()
    root_level = logging.getLogger().level
    try:
        configure_logging("INFO", json=True, stream=stream)
        logging.getLogger("httpx").info(
            "HTTP Request: POST http://receiver.example/hooks?token=SECRET"
        )
        assert "SECRET" not in stream.getvalue()
        assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
        logging.getLogger("httpx").warning("still shown")
        assert "still shown" in stream.getvalue()
    finally:
        from tests.conftest import LOG_STREAM

        configure_logging("INFO", json=True, stream=LOG_STREAM)
        logging.getLogger().setLevel(root_level)
