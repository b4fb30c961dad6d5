"""Benchmark harness: the real app against a bare Starlette + asyncpg baseline (see README)."""
