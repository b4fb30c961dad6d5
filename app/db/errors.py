"""Errors raised by the persistence layer. The API maps ``DatabaseUnavailable`` and
``TransactionAborted`` to 503."""


class DatabaseUnavailable(Exception):
    """The database could not be reached or went away mid-request; nothing was committed."""


class SessionClosed(RuntimeError):
    """A statement came after its unit of work was closed (a resolver of a request that was cut
    short): it does not open a new connection that nothing would give back."""


class TransactionAborted(Exception):
    """PostgreSQL rolled the transaction back to settle a conflict with a concurrent one (a
    deadlock 40P01, a serialization failure 40001), or had aborted it before its COMMIT
    (``sqlstate`` None). Nothing was committed; the same request can be sent again."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate or "40000")
        self.sqlstate = sqlstate


class ValueRejected(Exception):
    """PostgreSQL refused a value (out of range, unencodable): the request was invalid."""


class ConstraintViolated(Exception):
    """A constraint caught a conflicting write (e.g. a race past an earlier check)."""

    def __init__(self, constraint: str | None) -> None:
        super().__init__(constraint or "constraint")
        self.constraint = constraint


def is_connection_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or anything in its cause chain) means the database could not be reached:
    for callers outside a request (the CLI) that turn it into a clear message, not a traceback."""
    import asyncpg
    import sqlalchemy.exc

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(
            seen,
            OSError
            | TimeoutError
            | asyncpg.PostgresConnectionError
            | asyncpg.exceptions.OperatorInterventionError
            | asyncpg.exceptions.InvalidCatalogNameError
            | sqlalchemy.exc.OperationalError
            | sqlalchemy.exc.InterfaceError,
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
