"""What the benchmarks share: a throwaway copy of this project to build in."""

from __future__ import annotations

import shutil
from pathlib import Path

PACKAGE = "{{ cookiecutter.package_name }}"
PROJECT_DIR = Path(__file__).resolve().parents[1]
DBT_FILES = ("dbt_project.yml", "profiles.yml", "models", "macros", "data_tests", "data")


def copy_project(destination: Path) -> Path:
    """Copy the dbt project and its data, so a benchmark can change and build it freely."""
    destination.mkdir(parents=True)
    for name in DBT_FILES:
        source = PROJECT_DIR / name
        if source.is_dir():
            shutil.copytree(source, destination / name)
        elif source.is_file():
            shutil.copy2(source, destination / name)
    return destination
