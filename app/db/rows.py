"""Typed rows: every repository returns frozen dataclasses, never driver records.

Each table (or each statement shape) declares one frozen, slotted dataclass whose fields are the
statement's columns in order, and one :class:`Rows` mapper built from it. The mapper is the only
place a driver record becomes a row: it checks, once per statement, that the columns are exactly
the dataclass's fields in the same order (a renamed or reordered column fails loudly in the first
test that runs the statement, and mypy checks every use of the fields), then builds rows
positionally, which costs about as much as reading the record.

    @dataclass(frozen=True, slots=True)
    class ConsentRow:
        id: UUID
        case_id: UUID
        ...

    CONSENT_ROWS = Rows(ConsentRow)

    async def get(session: Session, consent_id: UUID) -> ConsentRow | None:
        return CONSENT_ROWS.one(await session.fetchrow(_GET, id=consent_id))

Building a frozen dataclass is slow: its ``__init__`` stores each field through
``object.__setattr__`` (its own ``__setattr__`` refuses), about 0.1 µs a field, so a list of 200
referral rows of 34 fields took 0.7 ms of one event-loop turn. For a row type that derives from
``object`` directly, the mapper builds with a twin class instead (:func:`_fast_builder`): the same
slots, a plain ``__init__``, and the last statement of that ``__init__`` sets the instance's class
to the row type. CPython allows that assignment between classes whose slots are the same. The
row is then an ordinary instance of the row type (frozen, equal, hashable, ``type(row) is
RowType``), built eight times faster. Row types that extend another row type (their slots are
split between two classes) are built the ordinary way.
"""

from __future__ import annotations

import dataclasses
import keyword
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class ColumnMismatch(TypeError):
    """A statement's columns are not its row type's fields (a programming error)."""


def _fast_builder(cls: type[T], fields: tuple[str, ...]) -> Callable[..., T] | None:
    """A callable building ``cls`` from its field values in order without the frozen
    ``__setattr__``, or None when ``cls``'s layout does not allow it (see the module's
    docstring)."""
    slots = cls.__dict__.get("__slots__")
    params = getattr(cls, "__dataclass_params__", None)
    if (
        getattr(sys, "_is_gil_enabled", lambda: True)() is False  # a class change stops the world
        or params is None
        or not params.init
        or not all(f.init and not f.kw_only for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        or "__new__" in cls.__dict__
        or cls.__bases__ != (object,)
        or slots is None
        or tuple(slots) != fields
        or not fields
        or hasattr(cls, "__post_init__")
        or not all(name.isidentifier() and not keyword.iskeyword(name) for name in fields)
        or {"self", "_row_type"} & set(fields)
    ):
        return None
    parameters = ", ".join(fields)
    body = "".join(f"    self.{name} = {name}\n" for name in fields)
    namespace: dict[str, Any] = {"_row_type": cls}
    try:
        exec(  # noqa: S102 - the source is made of the dataclass's own field names, checked above
            f"def __init__(self, {parameters}):\n{body}    self.__class__ = _row_type\n", namespace
        )
        twin = type(
            f"_{cls.__name__}Builder", (), {"__slots__": slots, "__init__": namespace["__init__"]}
        )
        probe = twin(*([None] * len(fields)))
    except Exception:  # a layout or a name this does not foresee: build the ordinary way
        return None
    if type(probe) is not cls:
        return None
    return cast("Callable[..., T]", twin)


class Rows(Generic[T]):
    """Builds ``T`` (a dataclass) from records whose columns are ``T``'s fields, in order."""

    __slots__ = ("_build", "_checked", "_checked_leading", "cls", "fields")

    def __init__(self, cls: type[T]) -> None:
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        self.cls = cls
        self.fields = tuple(f.name for f in dataclasses.fields(cls))
        self._build: Callable[..., T] = _fast_builder(cls, self.fields) or cls
        self._checked: set[tuple[str, ...]] = set()
        self._checked_leading: set[tuple[str, ...]] = set()

    def _check(self, record: Any) -> None:
        columns = tuple(record.keys())
        if columns in self._checked:
            return
        if columns != self.fields:
            raise ColumnMismatch(
                f"{self.cls.__name__}: the statement returns {columns}, the row type has "
                f"{self.fields}"
            )
        self._checked.add(columns)

    def one(self, record: Any) -> T | None:
        if record is None:
            return None
        self._check(record)
        return self._build(*record)

    def many(self, records: Sequence[Any]) -> list[T]:
        if not records:
            return []
        self._check(records[0])
        build = self._build
        return [build(*r) for r in records]

    def many_completed(
        self, records: Sequence[Any], rest: Callable[[Any], Sequence[Any]]
    ) -> list[T]:
        """Rows whose leading fields are each record's columns, in order, and whose other
        fields are ``rest(record)``: values the statement need not read again (those of a parent
        row already loaded, shared by many records)."""
        if not records:
            return []
        columns = tuple(records[0].keys())
        if columns not in self._checked_leading:
            if not 0 < len(columns) < len(self.fields) or columns != self.fields[: len(columns)]:
                raise ColumnMismatch(
                    f"{self.cls.__name__}: the statement returns {columns}, not the leading "
                    f"fields of {self.fields}"
                )
            self._checked_leading.add(columns)
        if len(columns) + len(rest(records[0])) != len(self.fields):
            raise ColumnMismatch(
                f"{self.cls.__name__}: {len(columns)} columns and the rest do not make its "
                f"{len(self.fields)} fields"
            )
        build = self._build
        return [build(*r, *rest(r)) for r in records]

    def build(self, values: Iterable[Any]) -> T:
        """A row from values already in field order (for rows assembled in Python)."""
        return self._build(*values)
