"""The strict JSON reader behind every REST body and ``POST /graphql``."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.api.json_body import InvalidJSON, loads


@pytest.mark.parametrize(
    "text",
    [
        '{"score": NaN}',
        '{"score": Infinity}',
        '{"score": -Infinity}',
        '{"score": 1e400}',
        '{"score": -1e400}',
        '{"a": 1, "a": 2}',
        '{"outer": [{"k": 1, "k": 1}]}',
        '["\\ud800"]',
        "[9007199254740992]",
        "[-9007199254740992]",
        "[" + "1" * 5000 + "]",
        "[" * 1000 + "]" * 1000,
        "\ufeff{}",
        "{} {}",
        "",
        "{'a': 1}",
    ],
    ids=[
        "nan",
        "infinity",
        "-infinity",
        "overflow",
        "-overflow",
        "duplicate-key",
        "nested-duplicate-key",
        "lone-surrogate",
        "beyond-safe-integer",
        "below-safe-integer",
        "5000-digits",
        "deep",
        "bom",
        "two-texts",
        "empty",
        "single-quotes",
    ],
)
def test_strict_json_refuses_what_json_loads_would_coerce(text: str) -> None:
    with pytest.raises(InvalidJSON):
        loads(text)


def test_strict_json_reads_ordinary_json_exactly() -> None:
    text = '{"a": [1, -2.5, 1e300, 9007199254740991, "\\u00e9", null, true], "b": {"a": 1}}'
    assert loads(text) == json.loads(text)
    assert loads(text.encode()) == json.loads(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_fuzz_any_body_is_read_or_refused_as_invalid_json(body: str | bytes) -> None:
    with contextlib.suppress(InvalidJSON):
        loads(body)


_JSON: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"])),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_JSON)
def test_fuzz_any_json_value_round_trips(value: Any) -> None:
    assert loads(json.dumps(value)) == value
