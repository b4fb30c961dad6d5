"""Fictional demo partners for ``aftercare serve --demo`` (development only).

Every name here is invented. Credentials are kept in ``<data_dir>/demo-credentials.json`` (mode
0600) so repeated runs print the same working secrets instead of piling up new clients.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from app.db.database import Database
from app.db.repositories import clients as client_repo
from app.domain.clients import ClientService
from app.domain.organizations import CapacityEntry, OrganizationService
from app.domain.scopes import ALL_SCOPES
from app.domain.vocabulary import OrganizationKind, ServiceKind

S = ServiceKind


@dataclass(frozen=True)
class DemoPartner:
    key: str
    name: str
    kind: OrganizationKind
    services: tuple[ServiceKind, ...]
    languages: tuple[str, ...]
    accepts_minors: bool
    capacity: tuple[CapacityEntry, ...] = ()


PARTNERS = (
    DemoPartner(
        "ngo_shelter",
        "Harbor Light Shelter (demo)",
        OrganizationKind.NGO_SHELTER,
        (S.SHELTER, S.COUNSELING, S.EDUCATION),
        ("en", "th"),
        True,
        (CapacityEntry(S.SHELTER, 4, 12),),
    ),
    DemoPartner(
        "government_shelter",
        "Provincial Recovery Centre (demo)",
        OrganizationKind.GOVERNMENT_SHELTER,
        (S.SHELTER, S.MEDICAL, S.JOB_TRAINING),
        ("th", "my", "km"),
        True,
        (CapacityEntry(S.SHELTER, 11, 40),),
    ),
    DemoPartner(
        "legal_partner",
        "Justice Bridge Legal Aid (demo)",
        OrganizationKind.LEGAL_PARTNER,
        (S.LEGAL, S.REPATRIATION),
        ("en", "th", "lo"),
        True,
    ),
    DemoPartner(
        "medical_provider",
        "Riverside Community Clinic (demo)",
        OrganizationKind.MEDICAL_PROVIDER,
        (S.MEDICAL, S.COUNSELING),
        ("th", "en"),
        True,
    ),
)


K = OrganizationKind

# Sixteen more fictional partners for the large demo data set (``aftercare demo seed``): with the
# four above, twenty organisations of every kind that cases are led by and referred between.
_MORE = (
    ("lotus_path", "Lotus Path Safe House", K.NGO_SHELTER,
     (S.SHELTER, S.BASIC_NEEDS, S.PROTECTION)),
    ("northern_hills", "Northern Hills Shelter", K.GOVERNMENT_SHELTER, (S.SHELTER, S.MEDICAL)),
    ("open_doors", "Open Doors Community Care", K.COMMUNITY_CARE,
     (S.COMMUNITY_PLACEMENT, S.BASIC_NEEDS, S.FAMILY_TRACING)),
    ("fair_counsel", "Fair Counsel Legal Clinic", K.LEGAL_PARTNER, (S.LEGAL, S.INTERPRETATION)),
    ("mekong_health", "Mekong Health Outreach", K.MEDICAL_PROVIDER, (S.MEDICAL,)),
    ("quiet_harbour", "Quiet Harbour Counselling", K.COUNSELING_PROVIDER, (S.COUNSELING,)),
    ("bright_skills", "Bright Skills Training Centre", K.EDUCATION_TRAINING,
     (S.EDUCATION, S.JOB_TRAINING)),
    ("homeward", "Homeward Return Network", K.OTHER, (S.REPATRIATION, S.FAMILY_TRACING)),
    ("river_bend", "River Bend Youth Home", K.NGO_SHELTER, (S.SHELTER, S.EDUCATION)),
    ("coastal_rights", "Coastal Rights Advocates", K.LEGAL_PARTNER, (S.LEGAL, S.PROTECTION)),
    ("valley_clinic", "Valley Family Clinic", K.MEDICAL_PROVIDER, (S.MEDICAL, S.COUNSELING)),
    ("new_leaf", "New Leaf Livelihoods", K.EDUCATION_TRAINING, (S.JOB_TRAINING,)),
    ("kindred", "Kindred Foster Network", K.COMMUNITY_CARE, (S.COMMUNITY_PLACEMENT,)),
    ("city_recovery", "City Recovery Centre", K.GOVERNMENT_SHELTER,
     (S.SHELTER, S.BASIC_NEEDS, S.MEDICAL)),
    ("many_voices", "Many Voices Interpreters", K.OTHER, (S.INTERPRETATION,)),
    ("safe_steps", "Safe Steps Counselling", K.COUNSELING_PROVIDER, (S.COUNSELING, S.PROTECTION)),
)  # fmt: skip
SEED_PARTNERS = PARTNERS + tuple(
    DemoPartner(key, f"{name} (demo)", kind, services, ("th", "en"), True)
    for key, name, kind, services in _MORE
)


async def seed(
    db: Database, data_dir: Path, partners: tuple[DemoPartner, ...] = PARTNERS
) -> list[dict[str, Any]]:
    """Create the demo partners once; return each with working client credentials."""
    path = data_dir / "demo-credentials.json"
    saved: dict[str, dict[str, Any]] = _load(path)
    out: list[dict[str, Any]] = []
    session = db.session(transactional=True)
    try:
        orgs = OrganizationService(session)
        clients = ClientService(session)
        for partner in partners:
            entry = saved.get(partner.key)
            if entry and await client_repo.get(session, entry["client_id"]) is not None:
                out.append(entry)
                continue
            org = await orgs.create(
                name=partner.name,
                kind=partner.kind,
                country="TH",
                services=partner.services,
                languages=partner.languages,
                regions=["TH-10"],
                accepts_minors=partner.accepts_minors,
                capacity=partner.capacity,
            )
            created = await clients.create(
                org_id=org.id, name=f"{partner.name} integration", scopes=sorted(ALL_SCOPES)
            )
            entry = {
                "partner": partner.key,
                "org_id": str(org.id),
                "name": partner.name,
                "client_id": created.client.client_id,
                "client_secret": created.client_secret,
            }
            saved[partner.key] = entry
            out.append(entry)
        await session.commit()
    except BaseException:
        await session.rollback()
        raise
    finally:
        await session.close()
    _save(path, saved)
    return out


def _save(path: Path, saved: dict[str, dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(orjson.dumps(saved, option=orjson.OPT_INDENT_2))


def _load(path: Path) -> dict[str, dict[str, Any]]:
    if not path.exists():
        return {}
    loaded: dict[str, dict[str, Any]] = orjson.loads(path.read_bytes())
    return loaded


def banner(partners: list[dict[str, Any]], base_url: str) -> str:
    lines = ["", "Demo partners (fictional) — client credentials:", ""]
    for p in partners:
        lines.append(f"  {p['name']}")
        lines.append(f"    org_id:        {p['org_id']}")
        lines.append(f"    client_id:     {p['client_id']}")
        lines.append(f"    client_secret: {p['client_secret']}")
    first = partners[0]
    lines += [
        "",
        "Get a token and read your organisation:",
        "",
        f"  TOKEN=$(curl -s -u '{first['client_id']}:{first['client_secret']}' "
        f"-d grant_type=client_credentials {base_url}/oauth/token "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')",
        f'  curl -s -H "Authorization: Bearer $TOKEN" {base_url}/v1/organizations/me',
        "",
        f"Interactive docs: {base_url}/docs",
        "",
    ]
    return "\n".join(lines)


def org_ids(partners: list[dict[str, Any]]) -> list[UUID]:
    return [UUID(p["org_id"]) for p in partners]
