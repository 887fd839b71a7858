"""Lint dbt snapshot files with sqlfluff's jinja templater, which knows no `{% snapshot %}` tag.

dbt reads a snapshot file's SQL from between `{% snapshot name %}` and `{% endsnapshot %}`. This hook
turns both tags into Jinja comments of the same length (`{# snapshot name #}`), so the body renders as
dbt renders it and every line and position reported is the file's own, then lints the result with the
project's sqlfluff settings. pre-commit runs it on snapshots/*.sql:
`python -m sqlfluff_libs.snapshot_blocks FILE...` prints one line per violation, exit 1 when any.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

# `{% snapshot name %}` / `{%- endsnapshot -%}`, whitespace control kept (Jinja comments take `-` too).
TAG = re.compile(r"\{%(-?)(\s*(?:end)?snapshot\b.*?)(-?)%\}", re.DOTALL)


def as_comments(text: str) -> str:
    """`text` with each snapshot tag turned into a Jinja comment of the same length."""
    return TAG.sub(lambda match: "{#" + match.group(1) + match.group(2) + match.group(3) + "#}", text)


def lint(path: Path) -> list[str]:
    """The violations sqlfluff finds in the snapshot file `path`: `path:line:position: CODE description` each."""
    from sqlfluff.core import FluffConfig, Linter  # noqa: PLC0415 - sqlfluff loads this module as a library too

    config = FluffConfig.from_path(str(path.parent))
    linted = Linter(config=config).lint_string(as_comments(path.read_text(encoding="utf-8")), fname=str(path))
    return [f"{path}:{v.line_no}:{v.line_pos}: {v.rule_code()} {v.desc()}" for v in linted.get_violations()]


def main(paths: list[str]) -> int:
    """Lint each file of `paths`; 1 when any has a violation."""
    found = [line for path in paths for line in lint(Path(path))]
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
