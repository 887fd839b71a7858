"""Stand-ins for dbt's Jinja context, so sqlfluff's jinja templater renders dbt SQL without a connection.

sqlfluff loads this package through `library_path`: names defined here are Jinja globals, and the
modules beside it (`dbt`, `target`) are reachable as `dbt.*` and `target.*`. dbt's own builtins
(ref, source, config, var, is_incremental, this, return) come from `apply_dbt_builtins`; this file adds
the rest of the context a dbt project's models and macros use: `adapter.dispatch`, `env_var`,
`run_query`, `execute`, `api.Column`, `log` and `exceptions`. Each renders SQL of the shape dbt
would produce, which is all the linter needs; nothing here touches a database.
"""

from collections.abc import Callable
from typing import Any

# dbt's parse phase: macros that read query results guard them with an `if execute` block.
execute = False


def env_var(name: str, default: str = "") -> str:
    """Render `env_var(name, default)`: the default, or the variable's name when there is none."""
    return default or name.lower()


def run_query(sql: str) -> None:
    """Render `run_query(sql)`: no database here, so no result (dbt returns None at parse time too)."""
    del sql


def log(msg: str, info: bool = False) -> str:
    """Render `log(msg)`: prints nothing, renders nothing."""
    del msg, info
    return ""


class _Adapter:
    """Stand-in for dbt's `adapter`: `dispatch` renders a dispatched macro call as a function call."""

    @staticmethod
    def dispatch(macro_name: str, macro_namespace: str | None = None) -> Callable[..., str]:
        """Render `adapter.dispatch(name, namespace)(args)` as `name(args)`, a plain SQL expression."""
        del macro_namespace

        def call(*args: Any, **kwargs: Any) -> str:
            values = [str(value) for value in (*args, *kwargs.values())]
            return f"{macro_name}({', '.join(values)})"

        return call

    @staticmethod
    def quote(identifier: str) -> str:
        """Render `adapter.quote(identifier)` with the SQL standard's double quotes."""
        return '"' + identifier.replace('"', '""') + '"'

    @staticmethod
    def get_relation(database: str | None = None, schema: str | None = None, identifier: str = "") -> str:
        """Render `adapter.get_relation(...)` as the bare identifier."""
        del database, schema
        return identifier


adapter = _Adapter()


class _Column:
    """Stand-in for `api.Column`: types translate to themselves."""

    @staticmethod
    def translate_type(dtype: str) -> str:
        """Render `api.Column.translate_type(type)` as DuckDB spells dbt's generic names."""
        return {"string": "varchar", "float": "double"}.get(dtype.lower(), dtype)


class _Api:
    Column = _Column


api = _Api()


class _Exceptions:
    """Stand-in for `exceptions`: a macro's guard clauses render nothing at lint time."""

    @staticmethod
    def raise_compiler_error(msg: str) -> str:
        """Render `exceptions.raise_compiler_error(msg)`: nothing (the guard is dbt's to run)."""
        del msg
        return ""

    @staticmethod
    def warn(msg: str) -> str:
        """Render `exceptions.warn(msg)`: nothing."""
        del msg
        return ""


exceptions = _Exceptions()
