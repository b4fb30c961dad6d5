"""What one webhook attempt means for its delivery (app.domain.deliveries.outcome)."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from app.db.repositories.deliveries import ClaimedDelivery
from app.domain.deliveries import outcome
from app.domain.webhook_delivery import DeliveryResult

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def claimed(attempts: int) -> ClaimedDelivery:
    return ClaimedDelivery(
        id=uuid4(),
        webhook_id=uuid4(),
        attempts=attempts,
        leased_until=NOW,
        url="https://receiver.example/hook",
        secret_enc=b"",
        previous_secret_enc=None,
        previous_secret_expires_at=None,
        event_id=uuid4(),
        type="webhook.test",
        occurred_at=NOW,
        subject_type="webhook",
        subject_id=uuid4(),
        case_id=None,
        data={},
        now=NOW,
    )


@pytest.mark.parametrize("status", [200, 202, 204, 299])
def test_any_2xx_succeeds(status: int) -> None:
    record = outcome(claimed(0), DeliveryResult(status, 12, None), (5, 300))
    assert (record.outcome, record.delivery_status, record.retry_after) == (
        "succeeded",
        "succeeded",
        None,
    )
    assert record.attempt == 1 and record.error is None and record.response_status == status


@pytest.mark.parametrize(
    ("attempts", "expected"),
    [(0, ("pending", 5.0)), (1, ("pending", 300.0)), (2, ("failed", None)), (7, ("failed", None))],
)
def test_a_failure_waits_for_the_next_delay_then_fails(
    attempts: int, expected: tuple[str, float | None]
) -> None:
    record = outcome(claimed(attempts), DeliveryResult(500, 3, None), (5, 300))
    assert (record.delivery_status, record.retry_after) == expected
    assert record.outcome == "failed" and record.attempt == attempts + 1
    assert record.error == "http_status"


def test_no_schedule_fails_at_the_first_failure() -> None:
    record = outcome(claimed(0), DeliveryResult(None, 10_000, "timeout"), ())
    assert (record.delivery_status, record.error, record.response_status) == (
        "failed",
        "timeout",
        None,
    )


@pytest.mark.parametrize("status", [301, 302, 400, 404, 410, 500, 503])
def test_anything_else_is_a_failed_attempt(status: int) -> None:
    assert outcome(claimed(0), DeliveryResult(status, 1, None), (1,)).outcome == "failed"
