"""The SQL lint accepts idiomatic dbt SQL and still rejects real mistakes (tests/lint_corpus/).

good/*.sql: incremental models, dispatched macros, dbt's cross-database macros, Jinja loops, `select *`
from a final CTE; each must lint clean. bad/<CODE>__<what>.sql: one real mistake each; sqlfluff must
report the rule code the file name starts with. Lint settings come from pyproject.toml, as for models/.
snapshots/good and snapshots/bad: the same for dbt snapshot blocks, linted by the snapshot hook.
"""

import importlib.util
from pathlib import Path
from types import ModuleType

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


def _snapshot_blocks() -> ModuleType:
    """sqlfluff_libs/snapshot_blocks.py, the hook pre-commit runs on snapshots/*.sql."""
    spec = importlib.util.spec_from_file_location("snapshot_blocks", ROOT / "sqlfluff_libs" / "snapshot_blocks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _snapshot_codes(path: Path) -> set[str]:
    """The rule codes the snapshot hook reports for `path` (its lines: `path:line:position: CODE description`)."""
    lines: list[str] = _snapshot_blocks().lint(path)
    return {line.split(": ", 1)[1].split()[0] for line in lines}


@pytest.mark.parametrize("path", sorted((CORPUS / "snapshots" / "good").glob("*.sql")), ids=lambda p: p.stem)
def test_snapshot_blocks_lint_clean(path: Path) -> None:
    """A dbt snapshot block, which sqlfluff's jinja templater cannot read, lints clean through the hook."""
    assert _snapshot_codes(path) == set()


@pytest.mark.parametrize("path", sorted((CORPUS / "snapshots" / "bad").glob("*.sql")), ids=lambda p: p.stem)
def test_a_mistake_inside_a_snapshot_block_is_flagged(path: Path) -> None:
    assert path.stem.split("__")[0] in _snapshot_codes(path)


# Jinja's block and comment delimiters, spelled apart: cookiecutter renders this file and would take them for its own.
BLOCK, COMMENT = ("{" + "%", "%" + "}"), ("{" + "#", "#" + "}")
SNAPSHOTS = sorted((CORPUS / "snapshots").rglob("*.sql"))


@pytest.mark.parametrize("path", SNAPSHOTS, ids=lambda p: p.stem)
def test_the_snapshot_tags_become_comments_in_place(path: Path) -> None:
    """Only the tags' delimiters change, so every line and position sqlfluff reports is the file's own."""
    text = path.read_text(encoding="utf-8")
    module = _snapshot_blocks()
    rewritten = module.as_comments(text)
    assert module.TAG.search(text) and not module.TAG.search(rewritten)
    assert rewritten.replace(COMMENT[0], BLOCK[0]).replace(COMMENT[1], BLOCK[1]) == text
