"""Aftercare Exchange: the interoperability hub for survivor aftercare partners."""

__version__ = "0.1.0"
