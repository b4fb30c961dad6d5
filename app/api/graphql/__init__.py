"""GraphQL at ``/graphql``: one Strawberry schema over the same domain services and the same
access policy as REST (CONTRACT §5).

Layout: ``types/`` the GraphQL types, one module per owner (``case.py``: a case and all that is
seen through it, its care plan and referrals included; ``organization.py``; ``enums.py``;
``event.py``), each built straight from the domain's views (``projection.py``);
``connections.py`` Relay connections and cursors (generic: it imports no type); ``loaders.py``
the DataLoaders and ``context.py`` the per-request context (the caller's services, fresh
loaders); ``queries.py`` and ``mutations/`` (one module per area, with its inputs) the root
types; ``errors.py`` inputs checked by REST's request models and the error masker;
``schema.py`` limits and caches; ``router.py`` HTTP, auth, the unit of work and the development
IDE (``static/``).

Visibility mirrors REST exactly. An object you may not see is not found: a root field asking for
it (``case``, ``referral``, ``organization``) is null with an error whose ``extensions.code`` is
``not_found``, as REST answers 404. A nested object you may not see is null without an error
(``Referral.case`` for the receiver of a pending referral, whom REST would 404 on the case). A
case's fields of a category you may not see are null. A field whose scope the token lacks is null
with an ``insufficient_scope`` error (REST's 403).
"""
