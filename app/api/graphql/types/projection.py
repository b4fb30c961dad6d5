"""GraphQL object types derived from REST's response models: one declaration of what a partner
sees of a domain view.

A domain view is projected once, by its REST response model (``app.api.schemas``): the model's
fields are the field names, their types and the values taken from the view (the view itself
where its attributes are the model's fields, else the model's ``source(view)``). A GraphQL type
declared with :func:`from_model` takes the model's fields in the model's order and type — a
nested response model becomes the GraphQL type derived from it, a JSON object the ``JSON``
scalar — and says only what GraphQL says differently: the type's name and description, field
descriptions (REST's unless given), and in its body a field whose type differs (the GraphQL
vocabulary) or that its resolvers read. A GraphQL type of its own shape (no model) derives
:class:`Projected` directly and takes its fields from the same kind of source.

``of(source)`` builds the type from that source, by attribute (or key, for a mapping) per field.
Values are taken as they are: GraphQL serialises an enum by its value, so a string from the
view needs no conversion. The fields stay plain attributes, so the executor's fast path for
plain fields (``executor.py``) applies to them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from operator import attrgetter
from types import UnionType
from typing import Any, ClassVar, Self, TypeVar, Union, final, get_args, get_origin

import strawberry
from pydantic import BaseModel
from strawberry.scalars import JSON
from strawberry.types.base import StrawberryList, StrawberryOptional, get_object_definition
from strawberry.types.private import is_private

# The vocabularies as GraphQL enums (value-named), registered before a derived type names one.
from app.api.graphql.types import enums as enums

T = TypeVar("T", bound="type[Projected]")
Convert = Callable[[Any], Any]

_DERIVED: dict[type[BaseModel], type[Projected]] = {}  # response model -> its GraphQL type


class Projected:
    """A GraphQL object type built field by field from a domain view (or REST's source of it).

    ``of(source)`` keeps the source; each field is read from it when first read, then kept in
    the object (as ``functools.cached_property`` does): a query asks for a few of a type's
    fields (a page of cases with their referrals reads 3 of a referral's 26), so the others
    are never read or converted. What reads the object (the executor's attribute getters,
    Strawberry's default resolver, ``dataclasses``' ``__eq__`` and ``__repr__``) reads it by
    attribute and sees no difference; an object made with the constructor holds its fields."""

    _lazy: ClassVar[bool] = False

    @classmethod
    def of(cls, source: Any) -> Self:
        if not cls.__dict__.get("_lazy"):
            cls._compile()
        projected = object.__new__(cls)
        projected.__dict__[_SOURCE] = source
        return projected

    @classmethod
    def _compile(cls) -> None:
        """Puts a reader on the class for each field: ``source.name`` (``source["name"]`` for
        a dict), a nested value built as its own type. Done on first use, when every type a
        field names is defined (and Strawberry has read the class's defaults)."""
        for field in get_object_definition(cls, strict=True).fields:
            if field.base_resolver or is_private(field.type):
                continue  # (what `of` sets itself)
            setattr(cls, field.python_name, _Read(field.python_name, _converter(field.type)))
        cls._lazy = True


_SOURCE = "_projected_source"


@final
class _Read:
    """A field of a :class:`Projected` read from its source on first use (a non-data
    descriptor: once kept in the object's ``__dict__``, that is what is read)."""

    __slots__ = ("by_attribute", "convert", "name")

    def __init__(self, name: str, convert: Convert | None) -> None:
        self.name, self.convert, self.by_attribute = name, convert, attrgetter(name)

    def __get__(self, projected: Any, owner: type | None = None) -> Any:
        if projected is None:
            return self
        attributes = projected.__dict__
        source = attributes[_SOURCE]
        value = source[self.name] if type(source) is dict else self.by_attribute(source)
        if value is not None and self.convert is not None:
            value = self.convert(value)
        attributes[self.name] = value
        return value


def _converter(kind: Any) -> Convert | None:
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    if isinstance(kind, StrawberryList):
        item = _converter(kind.of_type)
        return None if item is None else (lambda values: [item(v) for v in values])
    if isinstance(kind, type) and issubclass(kind, Projected):
        return kind.of
    return None


def _graphql(annotation: Any) -> Any:
    """The GraphQL annotation for a response model's field annotation."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        derived = _DERIVED.get(annotation)
        if derived is None:
            raise TypeError(f"{annotation.__name__} has no GraphQL type: derive it first")
        return derived
    origin = get_origin(annotation)
    if origin is list:
        return list[_graphql(get_args(annotation)[0])]  # type: ignore[misc]
    if origin is dict:
        return JSON
    if origin in (Union, UnionType):
        return Union[tuple(_graphql(arg) for arg in get_args(annotation))]  # noqa: UP007
    return annotation


def from_model(
    model: type[BaseModel],
    *,
    description: str,
    name: str | None = None,
    descriptions: Mapping[str, str | None] | None = None,
) -> Callable[[T], T]:
    """A Strawberry type with ``model``'s fields (see the module's doc). ``descriptions`` gives
    a field GraphQL's description where it differs from REST's (``None``: none). A field
    declared in the class body is taken as declared, in the model's place."""
    told = dict(descriptions or {})

    def wrap(cls: T) -> T:
        own = dict(inspect.get_annotations(cls))
        unknown = set(told) - set(model.model_fields)
        if unknown:
            raise TypeError(f"{cls.__name__}: {sorted(unknown)} are not fields of the model")
        annotations: dict[str, Any] = {}
        for field_name, field in model.model_fields.items():
            if field_name in own:
                annotations[field_name] = own.pop(field_name)
                continue
            annotations[field_name] = _graphql(field.annotation)
            text = told.get(field_name, field.description)
            if text is not None:
                setattr(cls, field_name, strawberry.field(description=text))
        cls.__annotations__ = annotations | own  # what only GraphQL has comes last
        typed = strawberry.type(cls, name=name, description=description)
        _DERIVED[model] = typed
        return typed

    return wrap
