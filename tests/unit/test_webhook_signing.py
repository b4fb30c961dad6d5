"""Standard Webhooks signatures (app.domain.webhook_signing), checked against the
``standardwebhooks`` library's own verifier and against the spec's published example."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from app.domain.webhook_signing import InvalidSignature, generate_secret, sign_headers, verify

BODY = b'{"id":"evt_1","type":"referral.created","case_id":"c1","data":{}}'


def test_a_secret_is_whsec_and_32_random_bytes() -> None:
    secret = generate_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"), validate=True)) == 32
    assert generate_secret() != secret


def test_the_specs_example_signature() -> None:
    # https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
    headers = sign_headers(
        ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        b'{"test": 2432232314}',
        timestamp=datetime.fromtimestamp(1614265330, UTC),
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    }


def test_the_library_verifies_what_we_sign() -> None:
    secret = generate_secret()
    headers = sign_headers([secret], "evt_1", BODY)
    assert Webhook(secret).verify(BODY, headers)["type"] == "referral.created"
    verify(secret, BODY, headers)


def test_during_a_rotation_both_secrets_sign_and_either_verifies() -> None:
    new, old = generate_secret(), generate_secret()
    headers = sign_headers([new, old], "evt_2", BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2
    assert all(s.startswith("v1,") for s in signatures)
    for secret in (new, old):
        Webhook(secret).verify(BODY, headers)
        verify(secret, BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(generate_secret()).verify(BODY, headers)


def test_the_timestamp_is_now_in_whole_seconds() -> None:
    before = int(datetime.now(UTC).timestamp())
    headers = sign_headers([generate_secret()], "evt_3", BODY)
    assert before <= int(headers["webhook-timestamp"]) <= before + 2


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "evt_other"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b),
        lambda h, b: ({**h, "webhook-signature": "v1,not base64!"}, b),
        lambda h, b: ({**h, "webhook-signature": "garbage"}, b),
        lambda h, b: ({**h, "webhook-signature": "v2," + h["webhook-signature"][3:]}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-timestamp": "soon"}, b),
    ],
    ids=[
        "body",
        "id",
        "timestamp",
        "signature",
        "not_base64",
        "no_version",
        "v2",
        "missing",
        "bad_timestamp",
    ],
)
def test_anything_changed_fails_verification(
    tamper: Callable[[dict[str, str], bytes], tuple[dict[str, str], bytes]],
) -> None:
    secret = generate_secret()
    headers, body = tamper(sign_headers([secret], "evt_4", BODY), BODY)
    with pytest.raises(InvalidSignature):
        verify(secret, body, headers)


@pytest.mark.parametrize("age", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_an_old_or_future_timestamp_fails(age: timedelta) -> None:
    secret = generate_secret()
    headers = sign_headers([secret], "evt_5", BODY, timestamp=datetime.now(UTC) - age)
    with pytest.raises(InvalidSignature):
        verify(secret, BODY, headers)


def test_header_names_are_case_insensitive_for_the_receiver() -> None:
    secret = generate_secret()
    headers = {k.title(): v for k, v in sign_headers([secret], "evt_6", BODY).items()}
    verify(secret, BODY, headers)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign_headers([], "evt_7", BODY)
