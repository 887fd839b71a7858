"""The one place an identifier becomes SQL text; values never do (they go as bound parameters).

Every module that builds SQL names schemas, tables, columns and attached databases through
`identifier` (or `relation`); every value (a path, a date, a user's text) is passed to
`execute(sql, [values])` as a parameter. DuckDB binds parameters in `attach ? as name` too.

The keyword list comes from an in-memory DuckDB (`duckdb_keywords()`, PostgreSQL's grammar), used as a
local engine, not as the warehouse.
"""

from __future__ import annotations

import functools
import re

import duckdb


def identifier(name: str) -> str:
    """`name` as a double-quoted SQL identifier: `o"b` -> `"o""b"`.

    Raises ValueError for an empty name or one holding a NUL character, which no warehouse accepts.
    """
    if not name or "\x00" in name:
        raise ValueError(f"{name!r} cannot be an SQL identifier: it is empty or holds a NUL character.")
    return '"' + name.replace('"', '""') + '"'


def relation(*parts: str) -> str:
    """A dotted, quoted relation name: `relation("published", "main", "fct_invoices")`."""
    return ".".join(identifier(part) for part in parts)


_PLAIN = re.compile(r"[a-z_][a-z0-9_]*")


@functools.cache
def _keywords() -> frozenset[str]:
    """The words that cannot stand bare as a column name, from DuckDB's `duckdb_keywords()`.

    Categories `reserved` (`select`, `order`) and `type_function` (`at`, `join`), as PostgreSQL's grammar has them.
    """
    with duckdb.connect() as con:
        rows = con.execute(
            "select keyword_name from duckdb_keywords() where keyword_category in ('reserved', 'type_function')"
        ).fetchall()
    return frozenset(str(row[0]) for row in rows)


def needs_quotes(name: str) -> bool:
    """Whether `name` must be quoted in SQL: anything but lowercase snake_case, or a keyword (`select`, `at`)."""
    return not _PLAIN.fullmatch(name) or name in _keywords()


def shown(*parts: str) -> str:
    """A dotted relation name for a message, as a user types it: quoted only where SQL needs it.

    `shown("raw", "_quarantine")` -> `raw._quarantine`; `shown("Raw Data", "t")` -> `"Raw Data".t`;
    `shown("raw", "order")` -> `raw."order"`.
    """
    return ".".join(identifier(part) if needs_quotes(part) else part for part in parts)
