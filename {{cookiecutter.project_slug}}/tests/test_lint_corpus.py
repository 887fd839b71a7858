"""The SQL lint accepts idiomatic dbt SQL and still rejects real mistakes (tests/lint_corpus/).

good/*.sql: incremental models, dispatched macros, dbt's cross-database macros, Jinja loops, `select *`
from a final CTE; each must lint clean. bad/<CODE>__<what>.sql: one real mistake each; sqlfluff must
report the rule code the file name starts with. Lint settings come from pyproject.toml, as for models/.
"""

from pathlib import Path

import pytest
from sqlfluff.core import FluffConfig, Linter

CORPUS = Path(__file__).parent / "lint_corpus"
ROOT = Path(__file__).parent.parent


def _codes(path: Path) -> set[str]:
    config = FluffConfig.from_path(str(ROOT))
    result = Linter(config=config).lint_paths((str(path),))
    return {str(violation["code"]) for violation in result.as_records()[0]["violations"]}


@pytest.mark.parametrize("path", sorted((CORPUS / "good").glob("*.sql")), ids=lambda p: p.stem)
def test_idiomatic_dbt_sql_lints_clean(path: Path) -> None:
    """It reports nothing on ordinary dbt SQL."""
    assert _codes(path) == set()


@pytest.mark.parametrize("path", sorted((CORPUS / "bad").glob("*.sql")), ids=lambda p: p.stem)
def test_real_mistakes_are_flagged_with_their_rule(path: Path) -> None:
    """It reports the rule the file name names."""
    assert path.stem.split("__")[0] in _codes(path)
