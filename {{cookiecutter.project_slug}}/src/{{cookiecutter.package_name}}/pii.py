"""Personal data outside prod: every value of a `pii` column is replaced by a keyed hash before it is stored.

A column is personal data when the dbt sources YAML marks it `meta: {pii: true}`. Outside prod the
ingest step stores `masked:<HMAC-SHA-256 of the value, 64 hex digits>` instead of the value, in the raw
tables and in the quarantine, so no later step (dbt, checks, reports, logs) ever sees a clear value.
The key comes from $PII_HASH_KEY (resolved in config.py): dev and ci default to the public DEV_KEY,
staging must have its own, prod stores clear values (key None). The same key gives the same digest,
so joins and distinct counts on masked columns behave as on the clear ones.

Ingest masks in SQL with the DuckDB macro pii_mask (`register`), which computes the same HMAC as
`mask`, in its local validation engine (warehouses.RawLoader.engine), before any row reaches the
warehouse. The dbt macro `mask_pii` calls it too (dbt's connections get it from pii_plugin.Plugin), for
tables that slim CI may build on production's clear tables by deferral.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb

from .errors import PipelineError
from .sql import identifier

# Public on purpose (README: "PII masking"): dev and ci data is sample data, and everyone must get
# the same digests. It protects nothing against someone who can guess the clear values.
DEV_KEY = "dataops-public-dev-and-ci-pii-key"
MIN_KEY_LENGTH = 32
PREFIX = "masked:"
# The SQL macro `register` adds to a connection (dbt's mask_pii macro calls it by this name).
MASK_FUNCTION = "pii_mask"
_MASKED = re.compile(r"masked:[0-9a-f]{64}")


def digest(value: str, key: bytes) -> str:
    """HMAC-SHA-256 of the UTF-8 bytes of `value` under `key`, as 64 lowercase hex digits."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()


def mask(value: str | None, key: bytes) -> str | None:
    """`masked:<digest>` of a value (None stays None); a value already masked is kept as is."""
    if value is None or _MASKED.fullmatch(value):
        return value
    return PREFIX + digest(value, key)


def resolve_key(env: str, value: str, variable: str) -> bytes | None:
    """The key masking uses in `env`, from the text of the environment variable `variable` ('' if unset).

    prod: None (clear values are stored). dev, ci: `value`, or DEV_KEY when unset. staging: `value`,
    which must be set, at least MIN_KEY_LENGTH characters and not DEV_KEY; else PipelineError.
    """
    value = value.strip()
    if env == "prod":
        return None
    if env == "staging" and (len(value) < MIN_KEY_LENGTH or value == DEV_KEY):
        problem = "is the public dev key" if value == DEV_KEY else ("is too short" if value else "is not set")
        raise PipelineError(
            f"environment 'staging' needs its own {variable} to mask personal data, and it {problem}; "
            f"export {variable}=<at least {MIN_KEY_LENGTH} random characters, made by `openssl rand -hex 32`>."
        )
    return (value or DEV_KEY).encode("utf-8")


def _pads(key: bytes) -> tuple[bytes, bytes]:
    """HMAC's inner and outer padded keys (RFC 2104): a key longer than a block is hashed first."""
    block = hashlib.sha256().block_size
    key = (hashlib.sha256(key).digest() if len(key) > block else key).ljust(block, b"\0")
    return bytes(b ^ 0x36 for b in key), bytes(b ^ 0x5C for b in key)


def register(con: duckdb.DuckDBPyConnection, key: bytes) -> None:
    """Give `con` the SQL macro pii_mask(varchar) -> varchar, equal to `mask(value, key)`.

    HMAC-SHA-256 in SQL: sha256(outer pad || sha256(inner pad || value)). The pads are bound as
    parameters into two session variables, so the key never appears in SQL text, a log or a
    stored view. Both are per connection (a DuckDB cursor is a new connection: register it too).
    """
    inner, outer = _pads(key)
    con.execute("set variable pii_inner_pad = ?", [inner])
    con.execute("set variable pii_outer_pad = ?", [outer])
    con.execute(
        f"create or replace temp macro {MASK_FUNCTION}(value) as case "
        f"when regexp_full_match(value, '{_MASKED.pattern}') then value "
        f"else '{PREFIX}' || sha256(getvariable('pii_outer_pad') "
        "|| unhex(sha256(getvariable('pii_inner_pad') || encode(value)))) end"
    )


@dataclass(frozen=True)
class Masker:
    """Masks the `pii` columns of what ingest writes; with key None (prod) everything passes through clear."""

    key: bytes | None

    def register(self, con: duckdb.DuckDBPyConnection) -> None:
        """Give `con` the SQL macro pii_mask (see `register`); nothing in prod."""
        if self.key is not None:
            register(con, self.key)

    def select(self, relation: str, columns: Sequence[str], scrub: Sequence[str] = ()) -> str:
        """SQL of `relation` (a name or a parenthesised query) with `columns` masked by pii_mask.

        Each column of `scrub` is text that may hold the clear values (a quarantine reason, or a field
        of a row whose fields shifted): every occurrence in it of this row's clear value of a masked
        column is replaced by its mask.
        Without a key, or without columns, `relation` itself is returned.
        """
        if self.key is None or not columns:
            return relation
        replaced = [f"{MASK_FUNCTION}(cast({identifier(c)} as varchar)) as {identifier(c)}" for c in columns]
        replaced += [f"{self.scrubbed(identifier(text), columns)} as {identifier(text)}" for text in scrub]
        return f"(select * replace ({', '.join(replaced)}) from {relation})"

    def scrubbed(self, expression: str, columns: Sequence[str]) -> str:
        """SQL of the text `expression` with every occurrence of this row's clear value of each of `columns` masked.

        An occurrence in any letter case counts (`BO@EXAMPLE.COM` is a copy of `bo@example.com`). For a value
        quoted inside a message (ingest's quarantine reasons quote the offending value): scrub the value before
        it is quoted, never the whole message, or a short value (a last name `id`) would be masked inside the
        message's own words. Without a key, or without columns, `expression` itself.
        """
        if self.key is None:
            return expression
        for column in columns:
            value = f"cast({identifier(column)} as varchar)"
            expression = (
                f"case when coalesce(trim({value}), '') = '' then {expression} "
                f"else regexp_replace({expression}, regexp_escape({value}), {MASK_FUNCTION}({value}), 'gi') end"
            )
        return expression

    def line(self, text: str, has_pii: bool) -> str:
        """A raw line that could not be split into fields: masked whole when its table has pii columns."""
        if self.key is None or not has_pii:
            return text
        return mask(text, self.key) or text
