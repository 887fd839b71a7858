"""Print how the SQL lint settings fare on tests/lint_corpus/: false positives, false negatives, seconds.

A false positive is a good/*.sql file (idiomatic dbt) with any violation; a false negative is a
bad/<CODE>__*.sql file without its rule <CODE>. Each row lints the whole corpus with pyproject.toml's
settings changed as the row says, so the house choice is measured next to its alternatives.
Run: `uv run python benchmarks/lint_corpus.py`.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

from sqlfluff.core import FluffConfig, Linter

PROJECT_DIR = Path(__file__).resolve().parents[1]
CORPUS = PROJECT_DIR / "tests" / "lint_corpus"

VARIANTS: dict[str, dict[str, Any]] = {
    "house: stand-ins, all rules but AM04": {},
    "stand-ins, all rules (AM04 on)": {"exclude_rules": ""},
    "stand-ins, core rules only": {"rules": "core"},
    "no stand-ins (dbt builtins only)": {"library_path": str(PROJECT_DIR / "benchmarks")},
}


def score(overrides: dict[str, Any]) -> tuple[int, int, float]:
    """Lint the corpus with `overrides` on the house settings; return (false positives, false negatives, seconds)."""
    house = FluffConfig.from_path(str(PROJECT_DIR))
    # sqlfluff has no public way to edit a loaded config: copy its nested dict.
    configs = copy.deepcopy(house._configs)
    for key, value in overrides.items():
        section = configs["templater"]["jinja"] if key == "library_path" else configs["core"]
        section[key] = value
    if "rules" in overrides or "exclude_rules" in overrides:
        # FluffConfig keeps its own parsed copies of the rule lists.
        configs["core"]["rule_allowlist"] = overrides.get("rules", configs["core"]["rules"]).split(",")
        configs["core"]["rule_denylist"] = (overrides.get("exclude_rules", "AM04") or "").split(",")
    config = FluffConfig(configs=configs)
    started = time.perf_counter()
    false_positives = false_negatives = 0
    for path in sorted(CORPUS.glob("*/*.sql")):
        # lint_string, not lint_paths: the latter reloads pyproject.toml and would undo the variant.
        linted = Linter(config=config).lint_string(path.read_text(encoding="utf-8"), fname=str(path))
        codes = {violation.rule_code() for violation in linted.violations}
        if path.parent.name == "good":
            false_positives += bool(codes)
        else:
            false_negatives += path.stem.split("__")[0] not in codes
    return false_positives, false_negatives, time.perf_counter() - started


def main() -> None:
    """Print one row per variant."""
    good = len(list(CORPUS.glob("good/*.sql")))
    bad = len(list(CORPUS.glob("bad/*.sql")))
    print(f"corpus: {good} good files, {bad} bad files")
    print(f"{'variant':<40} {'false pos':>9} {'false neg':>9} {'seconds':>8}")
    for name, overrides in VARIANTS.items():
        false_positives, false_negatives, seconds = score(overrides)
        print(f"{name:<40} {false_positives:>9} {false_negatives:>9} {seconds:>8.2f}")


if __name__ == "__main__":
    main()
