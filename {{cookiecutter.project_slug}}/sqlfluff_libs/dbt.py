"""Stand-ins for dbt's cross-database macros (`dbt.*`), so sqlfluff's jinja templater can render models.

sqlfluff imports this directory through `library_path`; each function returns SQL that has the
shape of what dbt would render, which is all the linter needs. Add a function when a model
starts calling another `dbt.*` macro.
"""

from collections.abc import Sequence


def concat(fields: Sequence[str]) -> str:
    """Render `dbt.concat(fields)`."""
    return f"concat({', '.join(fields)})"


def cast(field: str, data_type: str) -> str:
    """Render `dbt.cast(field, type)`."""
    return f"cast({field} as {data_type})"


def safe_cast(field: str, data_type: str) -> str:
    """Render `dbt.safe_cast(field, type)`."""
    return f"try_cast({field} as {data_type})"


def date_trunc(datepart: str, date: str) -> str:
    """Render `dbt.date_trunc(datepart, date)`."""
    return f"date_trunc('{datepart}', {date})"


def dateadd(datepart: str, interval: int | str, from_date_or_timestamp: str) -> str:
    """Render `dbt.dateadd(datepart, interval, from)`."""
    return f"date_add({from_date_or_timestamp}, interval ({interval}) {datepart})"


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    """Render `dbt.datediff(first, second, datepart)`."""
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def type_string() -> str:
    """Render `dbt.type_string()`."""
    return "varchar"


def type_int() -> str:
    """Render `dbt.type_int()`."""
    return "integer"


def type_bigint() -> str:
    """Render `dbt.type_bigint()`."""
    return "bigint"


def type_numeric() -> str:
    """Render `dbt.type_numeric()`."""
    return "numeric(28, 6)"


def type_boolean() -> str:
    """Render `dbt.type_boolean()`."""
    return "boolean"


def type_timestamp() -> str:
    """Render `dbt.type_timestamp()`."""
    return "timestamp"


def current_timestamp() -> str:
    """Render `dbt.current_timestamp()`."""
    return "current_timestamp"
