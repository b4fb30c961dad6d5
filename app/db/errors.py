"""Errors raised by the persistence layer. The API maps ``DatabaseUnavailable`` to 503."""


class DatabaseUnavailable(Exception):
    """The database could not be reached or went away mid-request; nothing was committed."""
