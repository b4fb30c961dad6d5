"""The webhook settings: names, defaults and the retry schedule's notation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from app.settings import Settings


def test_defaults() -> None:
    settings = Settings.model_validate({})
    assert settings.webhook_allow_private_networks is False
    assert settings.webhook_retry_schedule == "5,300,1800,7200,18000,36000,36000"
    assert settings.webhook_retry_delays == (5, 300, 1800, 7200, 18000, 36000, 36000)
    assert settings.webhook_disable_after == 30
    assert settings.webhook_timeout_seconds == 10.0


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERCARE_WEBHOOK_ALLOW_PRIVATE_NETWORKS", "true")
    monkeypatch.setenv("AFTERCARE_WEBHOOK_RETRY_SCHEDULE", " 1, 2 ,3")
    monkeypatch.setenv("AFTERCARE_WEBHOOK_DISABLE_AFTER", "5")
    monkeypatch.setenv("AFTERCARE_WEBHOOK_TIMEOUT_SECONDS", "2.5")
    settings = Settings()
    assert settings.webhook_allow_private_networks is True
    assert settings.webhook_retry_delays == (1, 2, 3)
    assert settings.webhook_disable_after == 5
    assert settings.webhook_timeout_seconds == 2.5


def test_an_empty_schedule_means_no_retry() -> None:
    assert Settings.model_validate({"webhook_retry_schedule": ""}).webhook_retry_delays == ()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("webhook_retry_schedule", "soon"),
        ("webhook_retry_schedule", "5,,300"),
        ("webhook_retry_schedule", "5,-1"),
        ("webhook_retry_schedule", "0"),
        ("webhook_retry_schedule", "1.5"),
        ("webhook_retry_schedule", "5 300"),
        ("webhook_retry_schedule", "604801"),
        ("webhook_retry_schedule", ",".join(["1"] * 101)),
        ("webhook_disable_after", 0),
        ("webhook_timeout_seconds", 0),
        ("webhook_timeout_seconds", 61),
        ("webhook_allow_private_networks", "perhaps"),
    ],
)
def test_bad_values_are_settings_errors(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({name: value})
