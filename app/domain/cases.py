"""Cases: intake, the case as each partner may see it, edits, closing and identity erasure."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Generic, TypeVar
from uuid import UUID, uuid4

from app.db.repositories import cases as repo
from app.db.repositories.cases import CaseRow
from app.domain import age
from app.domain.access import (
    NO_ACCESS,
    CaseAccess,
    Role,
)
from app.domain.context import RequestContext
from app.domain.crypto import DataKey
from app.domain.errors import (
    Conflict,
    DuplicateResource,
    NotFound,
    PreconditionFailed,
    ValidationFailed,
)
from app.domain.events import EventType
from app.domain.facts import Decision, access_of
from app.domain.freetext import CaseText, case_text
from app.domain.journey_rules import risk_went_up
from app.domain.pagination import KeysetList, Page
from app.domain.vocabulary import Category
from app.logging import log

LIST_NAME = "cases"
CASES = KeysetList(LIST_NAME, ("updated_at", "id"), (datetime.fromisoformat, UUID))
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U

IDENTITY_COLUMNS = (
    "given_name",
    "family_name",
    "aliases",
    "date_of_birth",
    "birth_year",
    "contact",
    "guardian",
)


def new_reference() -> str:
    """A short code people can read out on the phone, e.g. ``AC-7K3Q-9M2P`` (no survivor data)."""
    chars = "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(8))
    return f"AC-{chars[:4]}-{chars[4:]}"


@dataclass(slots=True)
class Identity:
    given_name: str | None = None
    family_name: str | None = None
    aliases: list[str] = field(default_factory=list)
    date_of_birth: date | None = None
    estimated_birth_year: int | None = None
    contact: dict[str, Any] | None = None
    guardian: dict[str, Any] | None = None


@dataclass(slots=True)
class CaseInput:
    """Everything intake or an edit provides (already schema-validated)."""

    external_ref: str
    gender: str
    identity: Identity
    nationality: str | None = None
    languages: list[str] = field(default_factory=list)
    interpreter_needed: bool = False
    exploitation_types: list[str] = field(default_factory=list)
    identified_on: date | None = None
    identified_country: str | None = None
    needs: list[str] = field(default_factory=list)
    risk_level: str | None = None


T = TypeVar("T")


class Opened(Generic[T]):
    """A sealed part of a view (the survivor's identity, the lead's reference, the close
    reason), decrypted on first use only: a list of cases no one reads these of (a GraphQL page
    of cases with their referrals) unwraps no data key and opens no field."""

    __slots__ = ("_done", "_open", "_value")

    def __init__(self, open_: Callable[[], T] | None) -> None:
        self._open = open_
        self._done = open_ is None
        self._value: T | None = None

    def get(self) -> T | None:
        if not self._done:
            assert self._open is not None
            self._value = self._open()
            self._done, self._open = True, None
        return self._value


@dataclass(frozen=True, slots=True)
class CaseView:
    """A case as one caller may see it; ``access`` says which parts are filled."""

    access: CaseAccess
    id: UUID
    reference: str
    lead_org_id: UUID
    status: str
    created_at: datetime
    updated_at: datetime
    version: int
    closed_at: datetime | None
    demographics: dict[str, Any] | None
    identity_source: Opened[Identity] = field(repr=False, compare=False)
    identity_erased: bool
    exploitation: dict[str, Any] | None
    general: dict[str, Any] | None
    # What the view was made of (the row and the caller's access), so that lists nested under
    # the case (GraphQL) are read for the caller without loading and checking the case again.
    loaded: LoadedCase = field(repr=False, compare=False)
    external_ref_source: Opened[str | None] = field(repr=False, compare=False)
    close_reason_source: Opened[str | None] = field(repr=False, compare=False)

    @property
    def identity(self) -> Identity | None:
        """Names, birth date, contact, guardian: None unless the caller may see `identity`."""
        return self.identity_source.get()

    @property
    def external_ref(self) -> str | None:
        """The lead's own reference: None unless the caller leads the case."""
        return self.external_ref_source.get()

    @property
    def close_reason(self) -> str | None:
        """Why the case was closed (category `general`): None when not closed, or not seen."""
        return self.close_reason_source.get()


@dataclass(frozen=True, slots=True)
class LoadedCase:
    row: CaseRow
    access: CaseAccess

    @property
    def id(self) -> UUID:
        return self.row.id


def check_minor_rules(is_minor: bool, guardian: dict[str, Any] | None) -> None:
    if is_minor and not guardian:
        raise ValidationFailed("A minor's case needs a guardian", loc=["guardian"])


def derive_age(identity: Identity, intake_day: date) -> tuple[bool, str]:
    if (identity.date_of_birth is None) == (identity.estimated_birth_year is None):
        raise ValidationFailed(
            "Give exactly one of survivor.date_of_birth and survivor.estimated_birth_year",
            loc=["survivor", "date_of_birth"],
        )
    if identity.date_of_birth is not None and not (
        date(1900, 1, 1) <= identity.date_of_birth <= intake_day
    ):
        raise ValidationFailed(
            "The date of birth is not plausible", loc=["survivor", "date_of_birth"]
        )
    if identity.estimated_birth_year is not None and not (
        1900 <= identity.estimated_birth_year <= intake_day.year
    ):
        raise ValidationFailed(
            "The estimated birth year is not plausible",
            loc=["survivor", "estimated_birth_year"],
        )
    years = age.age_on(
        intake_day,
        date_of_birth=identity.date_of_birth,
        birth_year=identity.estimated_birth_year,
    )
    return age.is_minor(years), str(age.age_band(years))


def encrypted_identity(key: DataKey, identity: Identity) -> dict[str, bytes | None]:
    dob = identity.date_of_birth.isoformat() if identity.date_of_birth else None
    return {
        "given_name_enc": key.encrypt_json("given_name", identity.given_name),
        "family_name_enc": key.encrypt_json("family_name", identity.family_name),
        "aliases_enc": key.encrypt_json("aliases", identity.aliases or None),
        "date_of_birth_enc": key.encrypt_json("date_of_birth", dob),
        "birth_year_enc": key.encrypt_json("birth_year", identity.estimated_birth_year),
        "contact_enc": key.encrypt_json("contact", identity.contact),
        "guardian_enc": key.encrypt_json("guardian", identity.guardian),
    }


def _disagreed(case_id: UUID) -> None:
    """The policy decided otherwise on facts with the remembered digest, at a time the decision
    was remembered for: it cannot happen (the policy is a pure function of what the memo keys
    and digests). The row appended names what was decided before; the caller appends the right
    one (or answers 404) all the same."""
    log.error("access_memo_disagreed", case_id=str(case_id))


class CaseService:
    def __init__(self, ctx: RequestContext) -> None:
        self.session = ctx.session
        self.keyring = ctx.key_wrapper
        self.principal = ctx.principal
        self.audit = ctx.audit
        self.outbox = ctx.outbox
        self.access_memo = ctx.access_memo

    # -- loading through the policy ----------------------------------------------------------
    async def load(self, case_id: UUID) -> LoadedCase:
        """The case and what the caller may do with it; 404 when it may not see it at all.
        Inside a transaction (every write) the case row stays locked until commit."""
        row: CaseRow | None
        if self.session.in_transaction:
            locked = await repo.load_locked(self.session, self.principal.org_id, case_id)
            if locked is not None:
                # Who hears of the write: read with the lock, no statement of its own.
                self.outbox.know_audience(case_id, locked.lead_org_id, locked.audience)
            row = locked
        else:
            row = await repo.load_for(self.session, self.principal.org_id, case_id)
        return self._decided(case_id, row, datetime.now(UTC))

    async def reload(self, case_id: UUID) -> LoadedCase:
        """The case again after this transaction changed it (to answer with): its lock is held
        since :meth:`load`, so the plain read sees the row as the transaction left it, without
        locking it again or reading who hears of the write (its events are written)."""
        row = await repo.load_for(self.session, self.principal.org_id, case_id)
        return self._decided(case_id, row, datetime.now(UTC))

    async def load_for_category(
        self, case_id: UUID, category: Category, *, write: bool
    ) -> LoadedCase:
        """The case, when the caller may read (or write) ``category`` of it; else 404 — being
        entitled to the case but not to the category must look like nothing at all."""
        loaded = await self.load(case_id)
        allowed = loaded.access.writable if write else loaded.access.visible
        if category not in allowed:
            raise NotFound("No such case")
        return loaded

    async def load_as_lead(self, case_id: UUID) -> LoadedCase:
        loaded = await self.load(case_id)
        if not loaded.access.is_lead:
            # Only the lead may do this; to everyone else the operation's target does not exist.
            raise NotFound("No such case")
        return loaded

    def text(self, row: CaseRow) -> CaseText:
        """The case's free-text cipher (its data key unwrapped once per unit of work)."""
        return case_text(
            self.session,
            self.keyring,
            row.id,
            row.wrapped_key,
            row.kek_id,
            erased=row.identity_erased_at is not None,
        )

    def external_ref(self, row: CaseRow) -> str | None:
        """The lead's reference: after a lead transfer, the case reference until it sets one."""
        if row.external_ref_enc is None:
            return str(row.reference)
        ref: str | None = self.text(row).open_column("cases", row, "external_ref")
        return ref

    def view(self, loaded: LoadedCase) -> CaseView:
        row, access = loaded.row, loaded.access
        identity = Opened(
            (lambda: self._decrypt_identity(row)) if access.sees(Category.IDENTITY) else None
        )
        return CaseView(
            access=access,
            id=row.id,
            reference=row.reference,
            lead_org_id=row.lead_org_id,
            status=row.status,
            created_at=row.created_at,
            updated_at=row.updated_at,
            version=row.version,
            closed_at=row.closed_at,
            demographics={
                "gender": row.gender,
                "nationality": row.nationality,
                "languages": row.languages,
                "interpreter_needed": row.interpreter_needed,
                "is_minor": row.is_minor,
                "age_band": row.age_band,
            }
            if access.sees(Category.DEMOGRAPHICS)
            else None,
            identity_source=identity,
            identity_erased=row.identity_erased_at is not None,
            exploitation={
                "types": row.exploitation_types,
                "identified_on": row.identified_on,
                "country": row.identified_country,
            }
            if access.sees(Category.EXPLOITATION)
            else None,
            general={"needs": row.needs, "risk_level": row.risk_level}
            if access.sees(Category.GENERAL)
            else None,
            loaded=loaded,
            external_ref_source=Opened(
                (lambda: self.external_ref(row)) if access.is_lead else None
            ),
            close_reason_source=Opened(
                (lambda: self.text(row).open_column("cases", row, "close_reason"))
                if access.sees(Category.GENERAL) and row.close_reason_enc is not None
                else None
            ),
        )

    def _decrypt_identity(self, row: CaseRow) -> Identity:
        key = self.text(row).key
        if key is None or row.identity_erased_at is not None:
            return Identity()  # erased: the key is gone

        def field(column: str) -> Any:
            blob = getattr(row, f"{column}_enc")
            return key.decrypt_json(column, bytes(blob)) if blob is not None else None

        dob = field("date_of_birth")
        return Identity(
            given_name=field("given_name"),
            family_name=field("family_name"),
            aliases=field("aliases") or [],
            date_of_birth=date.fromisoformat(dob) if dob else None,
            estimated_birth_year=field("birth_year"),
            contact=field("contact"),
            guardian=field("guardian"),
        )

    # -- reads ------------------------------------------------------------------------------
    async def get(self, case_id: UUID) -> CaseView:
        now = datetime.now(UTC)
        decision = self.remembered(case_id, now)
        if decision is not None:
            # The read's audit row in the read's own statement (AccessMemo).
            row = await repo.read_audited(
                self.session,
                self.principal.org_id,
                case_id,
                expected_digest=decision.digest,
                audit=self.audit.row(self.principal, "case.read", [case_id], decision.visible),
            )
            loaded, confirmed = self.confirm(
                case_id, row, decision, now, audited=row is not None and row.audited
            )
        else:
            loaded, confirmed = await self.decide(case_id, now), False
        if not confirmed:
            await self.audit.record(self.principal, "case.read", [case_id], loaded.access.visible)
        return self.view(loaded)

    # -- reads whose audit row is appended by the read (app.domain.facts.AccessMemo) -----------
    def remembered(self, case_id: UUID, now: datetime) -> Decision | None:
        """The decision this process remembers for the caller's read of the case, if the read
        may use it (in autocommit: in a transaction the case is loaded with its lock)."""
        memo = self.access_memo
        if memo is None or not self.session.autocommit:
            return None
        return memo.get(self.principal, case_id, now)

    async def decide(self, case_id: UUID, now: datetime) -> LoadedCase:
        """:meth:`load` for a read: the case with the digest of its facts, decided at ``now``,
        the decision remembered for the next read (404 when the caller may not see it)."""
        if self.access_memo is None or not self.session.autocommit:
            return await self.load(case_id)
        row = await repo.read_for(self.session, self.principal.org_id, case_id)
        loaded = self._decided(case_id, row, now)
        self._remember(loaded, now)
        return loaded

    def confirm(
        self,
        case_id: UUID,
        row: repo.DigestedCaseRow | None,
        decision: Decision,
        now: datetime,
        *,
        audited: bool,
    ) -> tuple[LoadedCase, bool]:
        """The case that a read made with the remembered ``decision`` returned, decided again
        from its facts at ``now``, and whether the read's audit row stands: it was appended
        (``audited``) and the decision is the same. False when the facts changed (nothing was
        appended): the caller appends the row for the new decision, remembered from now on.
        404 when the caller may no longer see the case."""
        try:
            loaded = self._decided(case_id, row, now)
        except NotFound:
            if audited:
                _disagreed(case_id)
            raise
        if audited:
            if loaded.access.visible == decision.visible:
                return loaded, True
            _disagreed(case_id)
        self._remember(loaded, now)
        return loaded, False

    def _decided(self, case_id: UUID, row: CaseRow | None, now: datetime) -> LoadedCase:
        """The case as the policy lets the caller see it at ``now``; 404 (and no remembered
        decision) when it may not see it at all."""
        access = access_of(row, self.principal, now) if row is not None else NO_ACCESS
        if row is None or not access.is_visible:
            if self.access_memo is not None:
                self.access_memo.forget(self.principal, case_id)
            raise NotFound("No such case")
        return LoadedCase(row, access)

    def _remember(self, loaded: LoadedCase, now: datetime) -> None:
        row = loaded.row
        if self.access_memo is not None and isinstance(row, repo.DigestedCaseRow):
            self.access_memo.put(
                self.principal, row.id, row.facts_digest, loaded.access, row.consents, now
            )

    async def list(
        self,
        *,
        role: Role | None,
        status: str | None,
        updated_since: datetime | None,
        limit: int,
        cursor: str | None,
    ) -> Page[CaseView]:
        after = CASES.position(cursor)
        rows = await repo.list_for(
            self.session,
            org_id=self.principal.org_id,
            role=str(role) if role else None,
            status=status,
            updated_since=updated_since,
            **CASES.bind(after, "after_ts", "after_id"),
            limit=limit + 1,
        )
        page = CASES.page(rows, limit)
        now = datetime.now(UTC)
        views = []
        for row in page.items:
            access = access_of(row, self.principal, now)
            if access.is_visible:
                views.append(self.view(LoadedCase(row, access)))
        if views:
            categories = set().union(*(v.access.visible for v in views))
            await self.audit.record(self.principal, "case.list", [v.id for v in views], categories)
        return Page(views, page.next_cursor)

    # -- writes -----------------------------------------------------------------------------
    async def create(self, data: CaseInput) -> CaseView:
        await self.session.begin()
        intake_day = datetime.now(UTC).date()
        is_minor, band = derive_age(data.identity, intake_day)
        check_minor_rules(is_minor, data.identity.guardian)
        ref_hash = self.keyring.blind_index(self.principal.org_id, data.external_ref)
        existing = await repo.find_by_external_ref(
            self.session, self.principal.org_id, data.external_ref, ref_hash
        )
        if existing is not None:
            raise DuplicateResource("A case with this external_ref already exists", existing)
        case_id = uuid4()
        key, wrapped = self.keyring.new_data_key(case_id)
        for _ in range(5):
            reference = new_reference()
            if not await repo.reference_taken(self.session, reference):
                break
        inserted = await repo.insert(
            self.session,
            id=case_id,
            reference=reference,
            lead_org_id=self.principal.org_id,
            external_ref_enc=key.encrypt_field("cases", case_id, "external_ref", data.external_ref),
            external_ref_hash=ref_hash,
            gender=data.gender,
            nationality=data.nationality,
            languages=data.languages,
            interpreter_needed=data.interpreter_needed,
            is_minor=is_minor,
            age_band=band,
            exploitation_types=data.exploitation_types,
            identified_on=data.identified_on,
            identified_country=data.identified_country,
            needs=data.needs,
            risk_level=data.risk_level,
            **encrypted_identity(key, data.identity),
        )
        if inserted is None:  # a concurrent intake won the (lead, external_ref) race
            existing = await repo.find_by_external_ref(
                self.session, self.principal.org_id, data.external_ref, ref_hash
            )
            raise DuplicateResource("A case with this external_ref already exists", existing)
        await repo.insert_key(
            self.session, case_id=case_id, wrapped_key=wrapped, kek_id=self.keyring.kek_id
        )
        loaded = await self.reload(case_id)  # (no one else sees the row before the commit)
        await self.audit.record(self.principal, "case.create", [case_id], loaded.access.visible)
        return self.view(loaded)

    async def update(
        self, case_id: UUID, changes: dict[str, Any], *, expected_version: Collection[int] | None
    ) -> CaseView:
        """Apply a partial change (already validated); ``changes`` maps CaseInput fields."""
        await self.session.begin()
        loaded = await self.load_as_lead(case_id)
        row = loaded.row
        if expected_version is not None and row.version not in expected_version:
            raise PreconditionFailed("The case has changed; fetch it again")
        if row.status != "open":
            raise Conflict("A closed case cannot be edited")
        if not changes:  # an empty patch: no write, no new version; the answer is a read
            await self.audit.record(self.principal, "case.read", [case_id], loaded.access.visible)
            return self.view(loaded)
        touches_identity = "identity" in changes
        if touches_identity and row.identity_erased_at is not None:
            raise Conflict("The survivor's identity was erased; it cannot be edited")
        current = self._decrypt_identity(row)
        identity_before = dataclasses.replace(current)  # `current` is changed in place below
        identity = current
        if touches_identity:
            for name, value in changes["identity"].items():
                setattr(identity, name, value)
            if "date_of_birth" in changes["identity"] and identity.date_of_birth is not None:
                identity.estimated_birth_year = None
            if (
                "estimated_birth_year" in changes["identity"]
                and identity.estimated_birth_year is not None
            ):
                identity.date_of_birth = None
        is_minor, band = row.is_minor, row.age_band
        if touches_identity and {"date_of_birth", "estimated_birth_year"} & set(
            changes["identity"]
        ):
            is_minor, band = derive_age(identity, row.created_at.date())
        check_minor_rules(is_minor, identity.guardian)
        ref_enc, ref_hash = row.external_ref_enc, row.external_ref_hash
        if "external_ref" in changes and changes["external_ref"] != self.external_ref(row):
            ref_hash = self.keyring.blind_index(self.principal.org_id, changes["external_ref"])
            other = await repo.find_by_external_ref(
                self.session, self.principal.org_id, changes["external_ref"], ref_hash
            )
            if other is not None and other != case_id:
                raise DuplicateResource("A case with this external_ref already exists", other)
            ref_enc = self.text(row).seal("cases", case_id, "external_ref", changes["external_ref"])
        key = self.text(row).key
        if key is not None:
            encrypted = encrypted_identity(key, identity)
        else:
            encrypted = {f"{c}_enc": None for c in IDENTITY_COLUMNS}
        fields = {
            "gender": changes.get("gender", row.gender),
            "nationality": changes.get("nationality", row.nationality),
            "languages": changes.get("languages", row.languages),
            "interpreter_needed": changes.get("interpreter_needed", row.interpreter_needed),
            "is_minor": is_minor,
            "age_band": band,
            "exploitation_types": changes.get("exploitation_types", row.exploitation_types),
            "identified_on": changes.get("identified_on", row.identified_on),
            "identified_country": changes.get("identified_country", row.identified_country),
            "needs": changes.get("needs", row.needs),
            "risk_level": changes.get("risk_level", row.risk_level),
        }
        version = await repo.update(
            self.session,
            id=case_id,
            expected_version=row.version,
            external_ref_enc=ref_enc,
            external_ref_hash=ref_hash,
            **fields,
            **encrypted,
        )
        if version is None:
            raise PreconditionFailed("The case has changed; fetch it again")
        # The response shows every visible category again: audit what was read and written.
        categories = _categories_of(changes) | loaded.access.visible
        await self.audit.record(self.principal, "case.update", [case_id], categories)
        changed = changed_categories(
            {name: getattr(row, name) for name in FIELD_CATEGORIES},
            fields,
            identity_before,
            identity,
        )
        async with self.outbox.batch():
            if changed:
                await self.outbox.to_case(
                    EventType.CASE_UPDATED, case_id, data={"version": version}, categories=changed
                )
            if risk_went_up(row.risk_level, fields["risk_level"]):
                await self.outbox.to_case(
                    EventType.CASE_RISK_RAISED,
                    case_id,
                    data={
                        "risk_level": str(fields["risk_level"]),
                        "previous_risk_level": row.risk_level,
                    },
                    category=Category.GENERAL,
                )
        return self.view(await self.reload(case_id))

    async def erase_identity(self, case_id: UUID) -> None:
        await self.session.begin()
        loaded = await self.load_as_lead(case_id)  # locks the case row
        if loaded.row.identity_erased_at is not None:
            return  # already erased: idempotent, nothing changes and nothing is audited
        _, wrapped = self.keyring.new_data_key(case_id)
        await repo.erase_identity(
            self.session, case_id, new_wrapped_key=wrapped, kek_id=self.keyring.kek_id
        )
        await self.audit.record(
            self.principal, "case.identity_erase", [case_id], [Category.IDENTITY]
        )
        # Everyone who sees the case sees that its identity is gone (`identity_erased`).
        await self.outbox.to_case(EventType.CASE_IDENTITY_ERASED, case_id)

    # -- batches (GraphQL loads related objects for a page of cases at once) ----------------
    async def load_many(self, case_ids: Sequence[UUID]) -> dict[UUID, LoadedCase]:
        """:meth:`load` for several cases in one statement. A case the caller may not see is
        simply absent, as if it did not exist."""
        wanted = list(dict.fromkeys(case_ids))
        if not wanted:
            return {}
        rows = await repo.load_many_for(self.session, self.principal.org_id, wanted)
        now = datetime.now(UTC)
        found: dict[UUID, LoadedCase] = {}
        for row in rows:
            access = access_of(row, self.principal, now)
            if access.is_visible:
                found[row.id] = LoadedCase(row, access)
        return {case_id: found[case_id] for case_id in wanted if case_id in found}

    async def get_many(self, case_ids: Sequence[UUID]) -> dict[UUID, CaseView]:
        """:meth:`get` for several cases: one audit row names every case that was read."""
        loaded = await self.load_many(case_ids)
        if loaded:
            categories = set().union(*(c.access.visible for c in loaded.values()))
            await self.audit.record(self.principal, "case.read", list(loaded), categories)
        return {case_id: self.view(c) for case_id, c in loaded.items()}


# The case columns an edit may change, by the category they belong to. `external_ref` is the
# lead's own reference (no one else ever sees it), so changing it tells no one anything.
FIELD_CATEGORIES: dict[str, Category] = {
    "gender": Category.DEMOGRAPHICS,
    "nationality": Category.DEMOGRAPHICS,
    "languages": Category.DEMOGRAPHICS,
    "interpreter_needed": Category.DEMOGRAPHICS,
    "is_minor": Category.DEMOGRAPHICS,
    "age_band": Category.DEMOGRAPHICS,
    "exploitation_types": Category.EXPLOITATION,
    "identified_on": Category.EXPLOITATION,
    "identified_country": Category.EXPLOITATION,
    "needs": Category.GENERAL,
    "risk_level": Category.GENERAL,
}


def changed_categories(
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    identity_before: Identity,
    identity_after: Identity,
) -> frozenset[Category]:
    """The categories whose content an edit really changed (what ``case.updated`` names): a
    field set to the value it had changes nothing."""
    changed = {c for name, c in FIELD_CATEGORIES.items() if before.get(name) != after.get(name)}
    if identity_before != identity_after:
        changed.add(Category.IDENTITY)
    return frozenset(changed)


def _categories_of(changes: dict[str, Any]) -> set[Category]:
    categories: set[Category] = set()
    for name in changes:
        if name in ("gender", "nationality", "languages", "interpreter_needed"):
            categories.add(Category.DEMOGRAPHICS)
        elif name == "identity":
            categories.add(Category.IDENTITY)
            if {"date_of_birth", "estimated_birth_year"} & set(changes["identity"]):
                categories.add(Category.DEMOGRAPHICS)
        elif name in ("exploitation_types", "identified_on", "identified_country"):
            categories.add(Category.EXPLOITATION)
        elif name in ("needs", "risk_level", "external_ref"):
            categories.add(Category.GENERAL)
    return categories


class CaseScopedService:
    """Where the services of what is kept under a case start (consents, the timeline,
    referrals, the legal record, placements, follow-ups, the care plan): the request's
    session, caller, audit trail and outbox, and ``cases``, which loads a case as the caller
    may see it (through the access policy) for them."""

    def __init__(self, ctx: RequestContext) -> None:
        self.session = ctx.session
        self.principal = ctx.principal
        self.cases = CaseService(ctx)
        self.audit = ctx.audit
        self.outbox = ctx.outbox
