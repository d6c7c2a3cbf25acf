"""Live knowledge: answer a caller's question from the org's passages, in PostgreSQL.

The pieces, each in its own module: ``passages`` splits a Markdown document into
passages, ``spoken`` turns what a caller said into query terms, ``ranking`` holds the
SQL that ranks an org's passages for those terms, and ``passages_schema.sql`` the table
they live in. Nothing is exported from here yet.
"""

__all__: list[str] = []
