"""Add a file as a document, so that running this again never adds it twice.

    DATABASE_URL=postgresql://... python examples/safe_create.py ORG_ID PATH

The idempotency key is the SHA-256 of the file's name and text: the same file is the
same request. A failure of the database is tried again a few times (with stamina): after
``NotSaved`` nothing was written, and after ``OutcomeUnknown`` the key makes the retry
return the document that the first try wrote, if it did.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from pathlib import Path

import asyncpg
import stamina

import kbcore
from kbcore.postgres import PostgresStore


@stamina.retry(on=kbcore.StoreUnavailable, attempts=4)
async def create_once(
    kb: kbcore.KnowledgeBase, org_id: str, filename: str, content: str
) -> kbcore.Document:
    key = hashlib.sha256(f"{filename}\0{content}".encode()).hexdigest()
    return await kb.create(org_id, filename=filename, content=content, idempotency_key=key)


async def main(org_id: str, filename: str, content: str) -> None:
    async with asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=2) as pool:
        kb = kbcore.KnowledgeBase(PostgresStore(pool))
        document = await create_once(kb, org_id, filename, content)
    print(f"{document.filename}: {document.id} (version {document.version})")


if __name__ == "__main__":
    path = Path(sys.argv[2])
    asyncio.run(main(sys.argv[1], path.name, path.read_text(encoding="utf-8")))
