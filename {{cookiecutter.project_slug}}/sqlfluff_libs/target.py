"""Stand-in for dbt's `target`, so sqlfluff's jinja templater can render macros that read it.

Models are linted as they compile for the `ci` target on DuckDB (PII masked, see mask_pii).
"""

name = "ci"
type = "duckdb"
schema = "main"
database = "ci"
threads = 4
