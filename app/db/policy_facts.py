"""The access policy's facts, loaded in the same statement as the rows they decide about.

The one access policy (:mod:`app.domain.access`) is pure; what it needs to know about the caller
and a case comes from the database as three columns, selected next to the case's own columns:

``member_categories`` (``text[]``, NULL unless the caller is an active care-team member)
    The categories the caller's active memberships share with it (a member with no shared
    category reads as ``[]``, not NULL: NULL means "not a member").
``consents`` (``jsonb``, decoded to a list of :class:`ConsentFact` dicts)
    The case's consents addressed to the caller, by organisation id or by its kind — all of them,
    revoked and expired too (the policy decides what is active *now*), in the order of their ids
    (so that equal facts print the same: the case read's digest). Always ``[]`` for the lead,
    who needs none.
``caller_kind`` (``text``)
    The caller's organisation kind (consents may be addressed to a kind).

:func:`policy_facts` renders the fragment for a statement that selects from a case aliased
``case`` joined to the caller's organisation aliased ``org`` (``JOIN organizations o ON o.id =
$1``), with the caller's organisation id bound as ``caller``. :data:`POLICY_FACTS` is the fragment
every statement in the code base uses (``c``, ``o``, ``$1``). A row type that selects it declares
the three fields as :class:`PolicyFactsFields` does.
"""

from __future__ import annotations

from typing import TypedDict


class ConsentFact(TypedDict):
    """One element of the ``consents`` column, as the JSON decoder gives it (timestamps are
    ISO 8601 strings; :func:`app.domain.cases.consent_facts` turns them into the policy's
    :class:`~app.domain.access.ConsentFacts`)."""

    categories: list[str]
    obtained_at: str
    expires_at: str | None
    revoked_at: str | None
    recipient_org_id: str | None
    recipient_kinds: list[str] | None


class PolicyFactsFields:
    """The three fields a row type declares, last and in this order, when its statement selects
    :data:`POLICY_FACTS` (documentation for row types; dataclasses copy these annotations)."""

    member_categories: list[str] | None
    consents: list[ConsentFact]
    caller_kind: str


FIELDS = ("member_categories", "consents", "caller_kind")


def policy_facts(case: str = "c", *, org: str = "o", caller: str = "$1") -> str:
    """The SELECT-list fragment giving :data:`FIELDS` for the case ``case`` and the caller whose
    organisation id is the parameter ``caller`` and whose organisations row is joined as ``org``.
    Constant text: only aliases and a placeholder are interpolated, never a value."""
    # `OFFSET 0` keeps the membership test a probe of ix_case_members_case_active per row:
    # without it PostgreSQL may instead hash every active membership of the caller first (a
    # "hashed SubPlan"), a cost that grows with the data set rather than with the page.
    return f"""
    CASE WHEN EXISTS (
        SELECT 1 FROM case_members m
        WHERE m.case_id = {case}.id AND m.org_id = {caller} AND m.left_at IS NULL OFFSET 0
    ) THEN COALESCE((
        SELECT array_agg(DISTINCT cat) FROM case_members m CROSS JOIN unnest(m.categories) cat
        WHERE m.case_id = {case}.id AND m.org_id = {caller} AND m.left_at IS NULL
    ), '{{}}'::text[]) END AS member_categories,
    CASE WHEN {case}.lead_org_id = {caller} THEN '[]'::jsonb ELSE COALESCE((
        SELECT jsonb_agg(jsonb_build_object(
            'categories', s.categories, 'obtained_at', s.obtained_at,
            'expires_at', s.expires_at, 'revoked_at', s.revoked_at,
            'recipient_org_id', s.recipient_org_id, 'recipient_kinds', s.recipient_kinds)
            ORDER BY s.id)
        FROM consents s
        WHERE s.case_id = {case}.id
          AND (s.recipient_org_id = {caller} OR {org}.kind = ANY (s.recipient_kinds))
    ), '[]'::jsonb) END AS consents,
    {org}.kind AS caller_kind
"""  # noqa: S608 - constant text: aliases and a placeholder


# What the access policy needs about the caller, for statements selecting from `cases c` joined
# to the caller's organisation `o` with the caller's id as $1.
POLICY_FACTS = policy_facts()


def sees_case(org: str = "o", case: str = "c") -> str:
    """The condition that the organisation ``org`` may see the case ``case`` at all: it leads
    it or serves on its care team (an active membership). Constant text: aliases only."""
    return f"""{org}.id = {case}.lead_org_id
      OR {org}.id IN (SELECT m.org_id FROM case_members m
                  WHERE m.case_id = {case}.id AND m.left_at IS NULL)"""  # noqa: S608 - aliases only


def audience_facts(case: str = "c") -> str:
    """A scalar subquery (``jsonb``): every organisation that may see the case ``case`` now (its
    lead and its active care-team members) as an object of its ``org_id`` and the policy's
    facts about it as the caller (:data:`FIELDS`), in the order of their ids. The same rows as
    the events' audience statement (app.db.repositories.events), in one column of a statement
    that reads the case anyway (its locked load). Constant text: only an alias is interpolated."""
    facts = ", ".join(f"'{name}', a.{name}" for name in FIELDS)
    return f"""(
    SELECT jsonb_agg(jsonb_build_object('org_id', a.org_id, {facts}) ORDER BY a.org_id)
    FROM (
        SELECT ao.id AS org_id, {policy_facts(case, org="ao", caller="ao.id")}
        FROM organizations ao
        WHERE {sees_case("ao", case)}
    ) a
)"""  # noqa: S608 - constant text: aliases only
