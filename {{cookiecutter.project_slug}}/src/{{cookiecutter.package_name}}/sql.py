"""The one place an identifier becomes SQL text; values never do (they go as bound parameters).

Every module that builds SQL names schemas, tables, columns and attached databases through
`identifier` (or `relation`); every value (a path, a date, a user's text) is passed to
`execute(sql, [values])` as a parameter. DuckDB binds parameters in `attach ? as name` too.
"""

from __future__ import annotations

import re


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


def shown(*parts: str) -> str:
    """A dotted relation name for a message, as a user types it: quoted only where SQL needs it.

    `shown("raw", "_quarantine")` -> `raw._quarantine`; `shown("Raw Data", "t")` -> `"Raw Data".t`.
    """
    return ".".join(part if _PLAIN.fullmatch(part) else identifier(part) for part in parts)
