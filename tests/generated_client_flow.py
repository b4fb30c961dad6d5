"""The partner flow through a client that openapi-python-client generated from
openapi/openapi.json (run by tests/test_generated_client.py in the generator's own environment,
as an integrator would: ``python generated_client_flow.py <base url> <credentials json>``, with
the generated package ``aftercare_generated`` on ``sys.path``).

Every call goes through the generated functions and models only, and each answer must parse
into the typed model the document promises (``parsed`` is ``None`` when the status or the body
is not one the document lists). Prints one line per step; exits non-zero on the first failure.
"""

from __future__ import annotations

import importlib
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Any


def mod(name: str) -> Any:
    return importlib.import_module(f"aftercare_generated.{name}")


models = mod("models")
client_module = mod("client")
UNSET = mod("types").UNSET


def step(name: str, answer: Any, status: int, model: str) -> Any:
    parsed = answer.parsed
    kind = type(parsed).__name__
    print(f"{name}: {int(answer.status_code)} {kind}")
    if int(answer.status_code) != status or kind != model:
        body = answer.content[:300].decode(errors="replace")
        raise SystemExit(
            f"{name}: expected {status} {model}, got {answer.status_code} {kind}: {body}"
        )
    return parsed


def main(base_url: str, credentials: dict[str, Any]) -> None:
    def login(who: dict[str, str]) -> Any:
        anonymous = client_module.Client(base_url)
        form = models.BodyCreateToken(
            client_id=who["client_id"],
            client_secret=who["client_secret"],
            grant_type="client_credentials",
        )
        token = step(
            "createToken",
            mod("api.oauth.create_token").sync_detailed(client=anonymous, body=form),
            200,
            "TokenOut",
        )
        return client_module.AuthenticatedClient(base_url, token=token.access_token)

    lead, receiver = login(credentials["lead"]), login(credentials["receiver"])
    receiver_id = uuid.UUID(credentials["receiver"]["org_id"])

    me = step(
        "getMyOrganization",
        mod("api.organizations.get_my_organization").sync_detailed(client=lead),
        200,
        "OrganizationOut",
    )
    assert str(me.id) == credentials["lead"]["org_id"]

    survivor = models.SurvivorIn(
        gender=models.Gender.FEMALE, estimated_birth_year=1999, given_name="Mira"
    )
    case = step(
        "createCase",
        mod("api.cases.create_case").sync_detailed(
            client=lead,
            body=models.CaseCreate(external_ref="GEN-1", survivor=survivor),
            idempotency_key=uuid.uuid4().hex,
        ),
        201,
        "CaseOut",
    )
    step(
        "createConsent",
        mod("api.cases.create_consent").sync_detailed(
            case.id,
            client=lead,
            body=models.ConsentCreate(
                categories=[models.Category.MEDICAL, models.Category.GENERAL],
                granted_by=[models.Granter.SURVIVOR],
                obtained_at=datetime.now(UTC),
                purpose="Shelter and wound care",
                recipient_org_id=receiver_id,
            ),
        ),
        201,
        "ConsentOut",
    )

    referral = step(
        "createReferral",
        mod("api.referrals.create_referral").sync_detailed(
            client=lead,
            body=models.ReferralCreate(
                case_id=case.id,
                to_org_id=receiver_id,
                service=models.ServiceKind.SHELTER,
                urgency=models.Urgency.HIGH,
                reason="Needs a protected place",
                shared_categories=[models.Category.DEMOGRAPHICS, models.Category.MEDICAL],
            ),
        ),
        201,
        "ReferralOut",
    )
    inbox = step(
        "listReferrals",
        mod("api.referrals.list_referrals").sync_detailed(client=receiver),
        200,
        "PageOutReferralOut",
    )
    assert [r.id for r in inbox.items] == [referral.id]
    pending = inbox.items[0]
    assert pending.preview is not UNSET and pending.preview is not None  # de-identified
    assert pending.preview.age_band is not None
    accepted = step(
        "acceptReferral",
        mod("api.referrals.accept_referral").sync_detailed(
            referral.id, client=receiver, body=models.AcceptIn()
        ),
        200,
        "ReferralOut",
    )
    assert accepted.status == models.ReferralStatus.ACCEPTED

    step(
        "getCase", mod("api.cases.get_case").sync_detailed(case.id, client=receiver), 200, "CaseOut"
    )
    step(
        "createUpdate",
        mod("api.cases.create_update").sync_detailed(
            case.id,
            client=receiver,
            body=models.UpdateCreate(
                kind=models.UpdateKind.NOTE,
                category=models.Category.MEDICAL,
                summary="Arrived; wound dressed",
                occurred_at=datetime.now(UTC),
            ),
        ),
        201,
        "UpdateOut",
    )
    step(
        "listEvents", mod("api.events.list_events").sync_detailed(client=lead), 200, "EventPageOut"
    )

    # Refusals parse as the document's Problem, with its code.
    missing = step(
        "getCase (another's or none)",
        mod("api.cases.get_case").sync_detailed(uuid.uuid4(), client=receiver),
        404,
        "Problem",
    )
    assert missing.code == "not_found"
    invalid = step(
        "createCase (born in the future)",
        mod("api.cases.create_case").sync_detailed(
            client=lead,
            body=models.CaseCreate(
                external_ref="GEN-2",
                survivor=models.SurvivorIn(gender=models.Gender.MALE, estimated_birth_year=2999),
            ),
        ),
        422,
        "Problem",
    )
    assert invalid.code == "validation_error"
    anonymous = client_module.AuthenticatedClient(base_url, token="not-a-token")
    refused = step(
        "getMyOrganization (bad token)",
        mod("api.organizations.get_my_organization").sync_detailed(client=anonymous),
        401,
        "Problem",
    )
    assert refused.code == "invalid_token"
    print("flow: ok")


if __name__ == "__main__":
    main(sys.argv[1], json.loads(sys.argv[2]))
