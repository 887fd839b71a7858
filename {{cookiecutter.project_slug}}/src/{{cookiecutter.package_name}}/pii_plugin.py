"""A dbt-duckdb plugin that gives dbt's DuckDB connections the same PII mask as ingest (pii.py).

profiles.yml names it under each masked target (`plugins:` with `module: <package>.pii_plugin`
and `config: environment: ci`). The key is read from $PII_HASH_KEY by config.pii_key, never from the profile,
because dbt logs a profile's plugin settings.
"""

from __future__ import annotations

from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import DuckDBPyConnection

from . import config, pii


class Plugin(BasePlugin):
    """Registers pii_mask(varchar) -> varchar, the SQL macro `mask_pii` calls outside prod, on every connection."""

    def initialize(self, plugin_config: dict[str, Any]) -> None:
        environment = str(plugin_config.get("environment") or "")
        if environment not in config.ENVIRONMENTS:
            raise ValueError(
                f"the {__name__} plugin in profiles.yml needs config.environment set to one of "
                f"{', '.join(config.ENVIRONMENTS)}, not {environment!r}."
            )
        self.masker = pii.Masker(config.pii_key(environment))

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        self.masker.register(conn)

    def configure_cursor(self, cursor: DuckDBPyConnection) -> None:
        # A cursor is a connection of its own: temp macros and variables do not carry over.
        self.masker.register(cursor)
