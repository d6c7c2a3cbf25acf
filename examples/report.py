"""Print the sync report of a kbcore database: the deployment runbook's monitoring figures.

    DATABASE_URL=postgresql://... python examples/report.py [ORG_ID]

The same figures as ``kbcore report``, through the public API.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

import kbcore.report
from kbcore.postgres import PostgresStore


async def main() -> None:
    org_id = sys.argv[1] if len(sys.argv) > 1 else None
    async with asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=1) as pool:
        stats = await kbcore.report.sync_stats(PostgresStore(pool), org_id=org_id)

    print(f"Since {stats.since:%Y-%m-%d %H:%M %Z}: {stats.total} attempts")
    for day in stats.days:
        print(f"  {day.date}: {day.successful}/{day.total} successful ({day.success_rate}%)")
    d = stats.durations
    if d.count:
        print(f"Duration: avg {d.average_ms:.0f} ms, max {d.max_ms} ms, p95 {d.p95_ms:.0f} ms")
    print(f"Rate-limit hits: {stats.rate_limit_hits}")
    for error in stats.errors:
        print(f"  {error.count} x {error.kind} (latest: {error.message})")


if __name__ == "__main__":
    asyncio.run(main())
