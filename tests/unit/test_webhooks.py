"""Webhook subscription rules: event types, sealed secrets and the rotation window, URL checks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.db.repositories.webhooks import WebhookRow
from app.domain.crypto import DecryptionFailed, KeyWrapper
from app.domain.errors import ValidationFailed
from app.domain.events import EventType
from app.domain.webhook_signing import generate_secret
from app.domain.webhooks import (
    TargetPolicy,
    Webhook,
    check_target,
    event_types_of,
    open_secret,
    reseal_secrets,
    seal_secret,
    signing_secrets,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def locs(exc: pytest.ExceptionInfo[ValidationFailed]) -> list[list[str | int]]:
    return [e["loc"] for e in exc.value.extra["errors"]]


class TestEventTypes:
    def test_contract_types_once_in_order(self) -> None:
        assert event_types_of(["case.closed", "referral.created", "case.closed"]) == [
            "case.closed",
            "referral.created",
        ]
        assert event_types_of([t.value for t in EventType]) == [t.value for t in EventType]
        assert event_types_of(["*"]) == ["*"]
        assert event_types_of(["*", "*"]) == ["*"]

    @pytest.mark.parametrize(
        ("values", "loc"),
        [
            ([], ["event_types"]),
            (["case.nope"], ["event_types", 0]),
            (["case.closed", "CASE.CLOSED"], ["event_types", 1]),
            (["case.*"], ["event_types", 0]),
            (["*", "case.closed"], ["event_types"]),
            (["case.closed"] * 31, ["event_types"]),
        ],
    )
    def test_refused(self, values: list[str], loc: list[str | int]) -> None:
        with pytest.raises(ValidationFailed) as exc:
            event_types_of(values)
        assert loc in locs(exc)


def row(
    wrapper: KeyWrapper, secret: str, previous: str | None, expires: datetime | None
) -> WebhookRow:
    hook_id = uuid.uuid4()
    return WebhookRow(
        id=hook_id,
        org_id=uuid.uuid4(),
        url="https://example.org/x",
        event_types=["*"],
        description=None,
        status="active",
        secret_enc=seal_secret(wrapper, hook_id, secret),
        previous_secret_enc=seal_secret(wrapper, hook_id, previous) if previous else None,
        previous_secret_expires_at=expires,
        consecutive_failures=0,
        disabled_at=None,
        created_at=NOW,
        updated_at=NOW,
        version=1,
    )


class TestSecrets:
    wrapper = KeyWrapper(bytes(range(32)))

    def test_sealed_for_one_subscription(self) -> None:
        secret = generate_secret()
        hook_id = uuid.uuid4()
        blob = seal_secret(self.wrapper, hook_id, secret)
        assert b"whsec_" not in blob and secret.encode() not in blob
        assert open_secret(self.wrapper, hook_id, blob) == secret
        with pytest.raises(DecryptionFailed):
            open_secret(self.wrapper, uuid.uuid4(), blob)  # copied to another subscription
        with pytest.raises(DecryptionFailed):
            open_secret(KeyWrapper(bytes(32)), hook_id, blob)  # another KEK

    def test_the_previous_secret_signs_until_its_window_closes(self) -> None:
        new, old = generate_secret(), generate_secret()
        hook = row(self.wrapper, new, old, NOW + timedelta(hours=24))
        assert signing_secrets(self.wrapper, hook, NOW) == [new, old]
        assert signing_secrets(self.wrapper, hook, NOW + timedelta(hours=24)) == [new]
        assert signing_secrets(self.wrapper, replace(hook, previous_secret_enc=None), NOW) == [new]
        view = Webhook.of(hook, NOW)
        assert view.previous_secret_expires_at == NOW + timedelta(hours=24)
        assert Webhook.of(hook, NOW + timedelta(days=2)).previous_secret_expires_at is None

    def test_reseal_under_the_current_kek(self) -> None:
        old_kek = KeyWrapper(bytes(32))
        new, old = generate_secret(), generate_secret()
        hook = row(old_kek, new, old, NOW + timedelta(hours=1))
        rotating = KeyWrapper(bytes(range(32)), [bytes(32)])
        resealed = reseal_secrets(rotating, hook.id, hook.secret_enc, hook.previous_secret_enc)
        assert resealed is not None
        current = rotating.current_only()
        assert open_secret(current, hook.id, resealed[0]) == new
        assert resealed[1] is not None and open_secret(current, hook.id, resealed[1]) == old
        assert reseal_secrets(rotating, hook.id, *resealed) is None  # already current


class TestTargets:
    async def test_names_resolved_only_with_the_guard_on(self) -> None:
        asked: list[str] = []

        async def resolver(host: str, port: int) -> Sequence[str]:
            asked.append(f"{host}:{port}")
            return ["10.0.0.1"] if host.startswith("inside") else ["93.184.215.14"]

        guarded = TargetPolicy(resolver=resolver)
        assert await check_target("https://Example.org/a", guarded) == "https://example.org/a"
        with pytest.raises(ValidationFailed) as exc:
            await check_target("https://inside.example.org/a", guarded)
        assert locs(exc) == [["url"]]
        # literals are checked without a lookup
        with pytest.raises(ValidationFailed):
            await check_target("http://169.254.169.254/", guarded)
        assert asked == ["example.org:443", "inside.example.org:443"]
        # with private networks allowed nothing is looked up
        open_policy = TargetPolicy(allow_private=True, resolver=resolver)
        assert await check_target("http://inside.example.org:81/", open_policy)
        assert await check_target("http://127.0.0.1:9/x", open_policy) == "http://127.0.0.1:9/x"
        assert len(asked) == 2

    async def test_production_requires_https(self) -> None:
        policy = TargetPolicy(production=True, allow_private=True)
        with pytest.raises(ValidationFailed):
            await check_target("http://127.0.0.1/x", policy)
        assert await check_target("https://127.0.0.1/x", policy) == "https://127.0.0.1/x"
