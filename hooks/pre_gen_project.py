"""Refuse answers that would bake a broken project, before a single file is written.

Cookiecutter renders this file with Jinja, then runs it. `ANSWERS` and `TEMPLATE` are the only
rendered lines; before rendering the file is still importable Python, so the tests import it and call `validate()`
directly, and `local_extensions.py` imports it to derive the default slug and package name with the
same rules that check them (so no default is ever refused). Choices are never listed here: they are
read from the template's own `cookiecutter.json` (its folder comes from `local_extensions.TemplateDir`),
not from the `_cookiecutter` context, which holds the answers instead of the choice lists under `--replay`.
"""

from __future__ import annotations

import json
import keyword
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from slugify import slugify  # python-slugify: a cookiecutter dependency, so always beside the hook

ANSWERS = r"""{{ cookiecutter | jsonify }}"""
# Where the template is: cookiecutter's `_repo_dir`, relative to where cookiecutter started when given
# as such, and the folder of local_extensions.py. A JSON list ends in `]`: valid inside the raw string.
TEMPLATE = r"""{{ [cookiecutter._repo_dir, template_dir | default('')] | jsonify }}"""

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
PACKAGE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
EMAIL_PATTERN = re.compile(r'^[^@\s"\\]+@[^@\s"\\]+\.[^@\s"\\]+$')
# Free text lands inside quoted TOML and YAML strings: keep it to one plain line.
UNSAFE_TEXT = re.compile(r'["\\\x00-\x1f\x7f]')

# Import names of the project's own dependencies: a package with one of these names hides them.
DEPENDENCY_NAMES = frozenset({"dbt", "duckdb", "dbt_duckdb", "psycopg2", "pyspark"})
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


def choices_of(template: Mapping[str, Any]) -> dict[str, list[str]]:
    """Return the choice lists of a cookiecutter.json; private keys (`_copy_without_render`) are not choices."""
    return {
        key: [str(item) for item in value]
        for key, value in template.items()
        if isinstance(value, list) and not key.startswith("_")
    }


def template_choices(template_dir: Path) -> dict[str, list[str]]:
    """Return the choice lists of the cookiecutter.json in the template folder cookiecutter bakes from.

    Raises OSError or ValueError when that file cannot be read; `main` turns either into one sentence.
    """
    path = template_dir / "cookiecutter.json"
    return choices_of(json.loads(path.read_text(encoding="utf-8")))


def template_folder(template: str) -> Path:
    """Return the template folder from the TEMPLATE line: `_repo_dir` if absolute, else local_extensions' folder."""
    repo_dir, extension_dir = json.loads(template)
    return Path(repo_dir) if Path(repo_dir).is_absolute() or not extension_dir else Path(extension_dir)


def suggest_slug(value: str) -> str:
    """Return the nearest valid slug to any text, transliterated to ASCII ('Café Données' -> 'cafe-donnees')."""
    slug = re.sub(r"^[^a-z]+", "", slugify(value))
    return slug or "my-project"


def suggest_package(value: str) -> str:
    """Return the nearest valid, non-shadowing package name to any text."""
    name = re.sub(r"^[^a-z]+", "", slugify(value, separator="_")) or "my_project"
    return name if package_reason(name) is None else f"{name}_project"


def default_slug(project_name: str) -> str:
    """Return the project_slug offered for a project name: always one `slug_problem` accepts."""
    return suggest_slug(project_name)


def default_package(project_slug: str) -> str:
    """Return the package_name offered for a slug: the slug with underscores, or the nearest valid name."""
    name = project_slug.replace("-", "_")
    return name if package_reason(name) is None else suggest_package(name)


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
    return [problem for problem in problems if problem]


def main() -> None:
    """Print every problem with the rendered answers and stop the bake if there is one."""
    answers = json.loads(ANSWERS)
    template_dir = template_folder(TEMPLATE)
    try:
        choices = template_choices(template_dir)
    except (OSError, ValueError) as error:
        print(
            f"cannot read the template's cookiecutter.json in {str(template_dir)!r} ({error}); "
            "bake from a complete copy of the template.",
            file=sys.stderr,
        )
        sys.exit(1)
    problems = validate(answers, choices)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        sys.exit(1)


if __name__ == "__main__":
    main()
