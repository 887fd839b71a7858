"""Jinja filters for cookiecutter.json's derived defaults, built on the pre-generation hook's own rules.

Cookiecutter imports this module from the template folder (`_extensions` in cookiecutter.json). The
default slug and package name come from the same functions that validate them, so a default offered
at a prompt is never refused after the last one ('Café Données' -> 'cafe-donnees' -> 'cafe_donnees').
`TemplateDir` tells the hooks where this template is, so they read its cookiecutter.json as written:
cookiecutter's own `_repo_dir` is relative to wherever cookiecutter was started, which a hook cannot know.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from cookiecutter.utils import simple_filter
from jinja2 import Environment
from jinja2.ext import Extension

TEMPLATE_DIR = Path(__file__).resolve().parent


def _load_pre_gen_hook() -> ModuleType:
    """Import hooks/pre_gen_project.py as it sits in the template (it is valid Python before rendering)."""
    spec = importlib.util.spec_from_file_location(
        "cookiecutter_dataops_pre_gen_project", TEMPLATE_DIR / "hooks" / "pre_gen_project.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_HOOK = _load_pre_gen_hook()


@simple_filter
def default_slug(project_name: str) -> str:
    """The project_slug offered for a project name, transliterated with python-slugify."""
    return str(_HOOK.default_slug(project_name))


@simple_filter
def default_package(project_slug: str) -> str:
    """The package_name offered for a slug."""
    return str(_HOOK.default_package(project_slug))


class TemplateDir(Extension):
    """Give templates, the hooks among them, `template_dir`: the absolute path of this template folder."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["template_dir"] = str(TEMPLATE_DIR)
