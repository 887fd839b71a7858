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


def type_float() -> str:
    """Render `dbt.type_float()`."""
    return "double"


def last_day(date: str, datepart: str) -> str:
    """Render `dbt.last_day(date, datepart)`."""
    return f"last_day(date_trunc('{datepart}', {date}))"


def date_spine(datepart: str, start_date: str, end_date: str) -> str:
    """Render `dbt.date_spine(datepart, start, end)`: one `date_<datepart>` column, as dbt names it."""
    return f"select range as date_{datepart}\nfrom range({start_date}, {end_date}, interval 1 {datepart})"


def hash(field: str) -> str:
    """Render `dbt.hash(field)`."""
    return f"md5(cast({field} as varchar))"


def split_part(string_text: str, delimiter_text: str, part_number: int) -> str:
    """Render `dbt.split_part(string, delimiter, part)`."""
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def right(string_text: str, length_expression: int | str) -> str:
    """Render `dbt.right(string, length)`."""
    return f"right({string_text}, {length_expression})"


def position(substring_text: str, string_text: str) -> str:
    """Render `dbt.position(substring, string)`."""
    return f"position({substring_text} in {string_text})"


def replace(field: str, old_chars: str, new_chars: str) -> str:
    """Render `dbt.replace(field, old, new)`."""
    return f"replace({field}, {old_chars}, {new_chars})"


def length(expression: str) -> str:
    """Render `dbt.length(expression)`."""
    return f"length({expression})"


def listagg(
    measure: str, delimiter_text: str = "','", order_by_clause: str | None = None, limit_num: int | None = None
) -> str:
    """Render `dbt.listagg(measure, delimiter, order_by, limit)`."""
    del limit_num
    order_by = f" {order_by_clause}" if order_by_clause else ""
    return f"string_agg({measure}, {delimiter_text}{order_by})"


def any_value(expression: str) -> str:
    """Render `dbt.any_value(expression)`."""
    return f"any_value({expression})"


def bool_or(expression: str) -> str:
    """Render `dbt.bool_or(expression)`."""
    return f"bool_or({expression})"


def cast_bool_to_text(field: str) -> str:
    """Render `dbt.cast_bool_to_text(field)`."""
    return f"cast({field} as varchar)"


def escape_single_quotes(expression: str) -> str:
    """Render `dbt.escape_single_quotes(text)` (the text goes inside a quoted literal)."""
    return expression.replace("'", "''")


def string_literal(value: str) -> str:
    """Render `dbt.string_literal(value)`."""
    return "'" + value.replace("'", "''") + "'"


def except_() -> str:
    """Render `dbt.except()`."""
    return "except"


def intersect() -> str:
    """Render `dbt.intersect()`."""
    return "intersect"


def array_construct(inputs: list[str] | None = None, data_type: str = "varchar") -> str:
    """Render `dbt.array_construct(inputs, type)`."""
    del data_type
    return f"[{', '.join(inputs or [])}]"


def array_append(array: str, new_element: str) -> str:
    """Render `dbt.array_append(array, element)`."""
    return f"list_append({array}, {new_element})"


def array_concat(array_1: str, array_2: str) -> str:
    """Render `dbt.array_concat(array_1, array_2)`."""
    return f"list_concat({array_1}, {array_2})"


def current_timestamp_backcompat() -> str:
    """Render `dbt.current_timestamp_backcompat()`."""
    return "current_timestamp"


def date(year: int, month: int, day: int) -> str:
    """Render `dbt.date(year, month, day)`."""
    return f"make_date({year}, {month}, {day})"


# `except` is a Python keyword: the module attribute carries dbt's name.
globals()["except"] = except_
