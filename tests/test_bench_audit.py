"""The audit contention bench measures what it says: a short run of each chain setting on the
test database appends from every connection, samples pg_stat_activity and verifies."""

from __future__ import annotations

import argparse

from bench.audit_contention import VARIANTS, measure


async def test_audit_contention_bench_runs_and_verifies(database_url: str) -> None:
    args = argparse.Namespace(connections=4, duration=0.4, warmup=0.1, sample_ms=10.0)
    single = await measure(database_url, VARIANTS["n1"], args)
    spread = await measure(database_url, VARIANTS["n16"], args)
    for result in (single, spread):
        assert result.verified and result.appends > 0 and result.samples > 0
        assert result.connections == 4
    assert single.chains_used == 1
    assert 1 <= spread.chains_used <= 4
