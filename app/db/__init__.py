"""Persistence: schema, connections, embedded PostgreSQL and repositories (all SQL lives here)."""
