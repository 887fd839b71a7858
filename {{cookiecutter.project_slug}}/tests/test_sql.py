"""The quoting helper: identifiers survive any character, and bound values never become SQL."""

from __future__ import annotations

import duckdb
import pytest

from {{ cookiecutter.package_name }}.sql import identifier, relation


@pytest.mark.parametrize("name", ["plain", "o'brien data", 'say "hi"', "café ñ", "a; drop table x; --", "UPPER"])
def test_any_name_round_trips_as_a_table_and_column(name: str) -> None:
    """It quotes a name so DuckDB creates exactly that table and column, whatever it holds."""
    with duckdb.connect() as con:
        con.execute(f"create table {identifier(name)} ({identifier(name)} integer)")
        con.execute(f"insert into {relation(name)} values (1)")
        assert con.execute("select table_name, column_name from information_schema.columns").fetchall() == [
            (name, name)
        ]


@pytest.mark.parametrize("name", ["", "a\x00b"])
def test_it_refuses_names_no_warehouse_accepts(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be an SQL identifier"):
        identifier(name)
