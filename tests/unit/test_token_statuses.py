"""The token memo's rules (app.domain.tokens.TokenStatuses): when a process may skip asking the
database whether a token's client is enabled and the token not revoked."""

from __future__ import annotations

from uuid import uuid4

from app.domain.principal import Principal
from app.domain.tokens import TokenStatuses


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def principal(client_id: str = "client-a") -> Principal:
    return Principal(
        client_id=client_id,
        org_id=uuid4(),
        scopes=frozenset({"cases:read"}),
        jti=uuid4(),
        expires_at=2_000_000_000,
    )


def listening_memo(seconds: float = 2.0) -> tuple[TokenStatuses, Clock]:
    clock = Clock()
    memo = TokenStatuses(seconds, clock=clock)
    memo.listening = lambda: True
    return memo, clock


def test_a_token_found_in_order_is_known_for_the_set_time() -> None:
    memo, clock = listening_memo(2.0)
    who = principal()
    assert not memo.knows(who)
    memo.remember(who, memo.ticket())
    assert memo.knows(who)
    clock.now += 1.99
    assert memo.knows(who)
    clock.now += 0.01
    assert not memo.knows(who)


def test_only_the_same_client_and_organisation_are_known() -> None:
    memo, _ = listening_memo()
    who = principal()
    memo.remember(who, memo.ticket())
    other_client = Principal(who.client_id + "x", who.org_id, who.scopes, who.jti, who.expires_at)
    other_org = Principal(who.client_id, uuid4(), who.scopes, who.jti, who.expires_at)
    assert not memo.knows(other_client)
    assert not memo.knows(other_org)


def test_any_notification_forgets_everything() -> None:
    memo, _ = listening_memo()
    a, b = principal("a"), principal("b")
    memo.remember(a, memo.ticket())
    memo.remember(b, memo.ticket())
    memo.forget("a")
    assert not memo.knows(a) and not memo.knows(b)


def test_a_check_begun_before_a_notification_is_not_remembered() -> None:
    # The status was read, then a revocation committed and its notification arrived, then the
    # read's answer came back: remembering it would outlive the revocation.
    memo, _ = listening_memo()
    who = principal()
    ticket = memo.ticket()
    memo.forget("client-a")
    memo.remember(who, ticket)
    assert not memo.knows(who)
    memo.remember(who, memo.ticket())
    assert memo.knows(who)


def test_nothing_is_known_while_not_listening() -> None:
    memo, _ = listening_memo()
    who = principal()
    listening = [False]
    memo.listening = lambda: listening[0]
    memo.remember(who, memo.ticket())
    assert not memo.knows(who)  # not even remembered
    listening[0] = True
    memo.remember(who, memo.ticket())
    assert memo.knows(who)
    listening[0] = False  # the connection went (forget() comes with it; this alone suffices)
    assert not memo.knows(who)


def test_zero_seconds_turns_the_memo_off() -> None:
    memo, _ = listening_memo(0)
    who = principal()
    memo.remember(who, memo.ticket())
    assert not memo.knows(who)


def test_the_memo_is_bounded() -> None:
    clock = Clock()
    memo = TokenStatuses(2.0, max_entries=10, clock=clock)
    memo.listening = lambda: True
    people = [principal(f"c{i}") for i in range(25)]
    for who in people:
        memo.remember(who, memo.ticket())
    assert sum(memo.knows(who) for who in people) <= 10
    assert memo.knows(people[-1])
