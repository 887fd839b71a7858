"""Refuse answers that would bake a broken project, before a single file is written.

Cookiecutter renders this file with Jinja, then runs it. The two constants below are the only
rendered lines; before rendering the file is still importable Python, so the tests import it and
call `validate()` directly. Choices are never listed here: they come from the original
`cookiecutter.json`, which cookiecutter hands to hooks as `_cookiecutter`.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

ANSWERS = r"""{{ cookiecutter | jsonify }}"""
ORIGINAL = r"""{{ _cookiecutter | default({}) | jsonify }}"""

# The warehouses this version of the template can bake; the other choices are announced as planned.
SUPPORTED_WAREHOUSES = ("duckdb",)

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_PATTERN = re.compile(r'^[^@\s"\\]+@[^@\s"\\]+\.[^@\s"\\]+$')
# Free text lands inside quoted TOML and YAML strings: keep it to one plain line.
UNSAFE_TEXT = re.compile(r'["\\\x00-\x1f\x7f]')

# Import names of the project's own dependencies: a package with one of these names hides them.
DEPENDENCY_NAMES = frozenset({"dbt", "duckdb", "dbt_duckdb"})
# dbt refuses these as project names (dbt-core: dbt/contracts/project.py, BANNED_PROJECT_NAMES).
DBT_RESERVED_NAMES = frozenset(
    {
        "_sql_results", "adapter", "api", "column", "config", "context", "database", "env",
        "env_var", "exceptions", "execute", "flags", "fromjson", "fromyaml", "graph",
        "invocation_id", "load_agate_table", "load_result", "log", "model", "modules",
        "post_hooks", "pre_hooks", "ref", "render", "return", "run_started_at", "schema",
        "source", "sql", "sql_now", "store_result", "store_raw_result", "target", "this",
        "tojson", "toyaml", "try_or_compiler_error", "var", "write",
    }
)  # fmt: skip


def choices_of(original: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the choice lists of the original cookiecutter.json (empty when cookiecutter gave none)."""
    return {key: [str(item) for item in value] for key, value in original.items() if isinstance(value, list)}


def suggest_slug(value: str) -> str:
    """Return the nearest valid slug to a bad one."""
    slug = re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
    slug = re.sub(r"^[^a-z]+", "", slug)
    return slug or "my-project"


def suggest_package(value: str) -> str:
    """Return the nearest valid, non-shadowing package name to a bad one."""
    name = re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")
    name = re.sub(r"^[^a-z]+", "", name) or "my_project"
    return name if package_reason(name) is None else f"{name}_project"


def text_problem(field: str, value: str, example: str) -> str | None:
    """Check a required one-line free-text answer."""
    if not value.strip():
        return f"{field} {value!r} is empty; type something such as {example!r}."
    return line_problem(field, value)


def line_problem(field: str, value: str) -> str | None:
    """Check that free text fits on one line of a quoted TOML or YAML string."""
    if UNSAFE_TEXT.search(value):
        cleaned = " ".join(UNSAFE_TEXT.sub(" ", value).split())
        return f"{field} {value!r} must be one line without double quotes or backslashes; try {cleaned!r}."
    return None


def slug_problem(value: str) -> str | None:
    """Check the repository and CLI name."""
    if SLUG_PATTERN.match(value):
        return None
    return (
        f"project_slug {value!r} must be lowercase letters, digits and dashes, starting with a letter; "
        f"try {suggest_slug(value)!r}."
    )


def package_reason(value: str) -> str | None:
    """Say why a name cannot serve as both the Python package and the dbt project, if it cannot."""
    if not PACKAGE_PATTERN.match(value):
        return "must be lowercase letters, digits and underscores, starting with a letter"
    if keyword.iskeyword(value) or keyword.issoftkeyword(value):
        return "is a Python keyword"
    if value in sys.stdlib_module_names:
        return f"would shadow the standard-library module {value}"
    if value in DEPENDENCY_NAMES:
        return f"would shadow the {value} dependency"
    if value in DBT_RESERVED_NAMES:
        return "is a reserved word that dbt refuses as a project name"
    return None


def package_problem(value: str) -> str | None:
    """Check the Python package and dbt project name."""
    reason = package_reason(value)
    return None if reason is None else f"package_name {value!r} {reason}; try {suggest_package(value)!r}."


def email_problem(value: str) -> str | None:
    """Check that the author email looks like an address."""
    if EMAIL_PATTERN.match(value):
        return None
    return f"author_email {value!r} is not an email address; type one such as 'data-team@example.com'."


def choice_problem(field: str, value: str, options: Sequence[str]) -> str | None:
    """Check a choice answer against the choices of cookiecutter.json."""
    if value in options:
        return None
    return f"{field} {value!r} is not one of the choices; type one of {', '.join(options)}."


def warehouse_problem(value: str) -> str | None:
    """Refuse a warehouse the template lists but cannot bake yet."""
    if value in SUPPORTED_WAREHOUSES:
        return None
    supported = " or ".join(SUPPORTED_WAREHOUSES)
    return (
        f"warehouse {value!r} is not available yet in this version of the template; "
        f"choose {supported} (the others are planned)."
    )


def validate(answers: Mapping[str, Any], choices: Mapping[str, Sequence[str]]) -> list[str]:
    """Return one sentence per bad answer; an empty list means the answers can be baked."""

    def text(field: str) -> str:
        return str(answers.get(field, ""))

    problems = [
        text_problem("project_name", text("project_name"), "Shop Analytics"),
        slug_problem(text("project_slug")),
        package_problem(text("package_name")),
        line_problem("description", text("description")),
        text_problem("author_name", text("author_name"), "Data Team"),
        email_problem(text("author_email")),
        *(choice_problem(field, text(field), options) for field, options in choices.items()),
    ]
    if "warehouse" not in choices or text("warehouse") in choices["warehouse"]:
        problems.append(warehouse_problem(text("warehouse")))
    return [problem for problem in problems if problem]


def main() -> None:
    """Print every problem with the rendered answers and stop the bake if there is one."""
    problems = validate(json.loads(ANSWERS), choices_of(json.loads(ORIGINAL)))
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
