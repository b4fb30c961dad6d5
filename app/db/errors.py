"""Errors raised by the persistence layer. The API maps ``DatabaseUnavailable`` to 503."""


class DatabaseUnavailable(Exception):
    """The database could not be reached or went away mid-request; nothing was committed."""


class ValueRejected(Exception):
    """PostgreSQL refused a value (out of range, unencodable): the request was invalid."""


class ConstraintViolated(Exception):
    """A constraint caught a conflicting write (e.g. a race past an earlier check)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint or "constraint")
        self.constraint = constraint
