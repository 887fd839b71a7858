"""dbt properties files (the YAML under `models/`) read and written with a round trip.

`add-source` and `contract` edit files users wrote: ruamel.yaml's round trip keeps their comments, quoting,
key order and indentation, so only the entries a command adds or changes differ. New files get dbt's docs
layout. Writes go through a temporary file and a rename, so no file is ever left half-written.
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError
from ruamel.yaml.util import load_yaml_guess_indent

from .errors import PipelineError

# A new file's layout, as dbt's docs write YAML: mappings indented 2, list items 4 with the dash at 2.
_MAPPING_INDENT, _DASH_OFFSET = 2, 2
# Never fold a line: a user's long description or Jinja expression stays on its one line.
_WIDTH = 4096


def round_trip() -> YAML:
    """ruamel.yaml's round-trip reader and writer: comments, quotes and key order as read."""
    parser = YAML()
    parser.preserve_quotes = True
    parser.width = _WIDTH
    return parser


@dataclass
class Document:
    """A YAML file read for a round trip (ruamel.yaml's CommentedMap) and the indentation to write it back in."""

    data: Any
    mapping_indent: int = _MAPPING_INDENT
    dash_offset: int = _DASH_OFFSET

    def dump(self) -> str:
        writer = round_trip()
        writer.indent(
            mapping=self.mapping_indent, sequence=self.mapping_indent + self.dash_offset, offset=self.dash_offset
        )
        text = io.StringIO()
        writer.dump(self.data, text)
        return text.getvalue()


def load(path: Path, key: str, command: str) -> Document:
    """The YAML file at `path` for a round trip, with a `key` list (created when the file is new or empty).

    The file's own indentation is kept (ruamel guesses the list indent and dash offset; the mapping
    indent is their difference). `command` is the CLI command the error sentences tell the user to run again.
    Raises PipelineError for a file that is not YAML or not a dbt `key` file.
    """
    if not path.is_file():
        return Document(round_trip().load(f"version: 2\n{key}: []\n"))
    try:
        data, sequence, offset = load_yaml_guess_indent(path.read_text(encoding="utf-8"), yaml=round_trip())
    except YAMLError as error:
        raise PipelineError(
            f"{path} is not valid YAML ({str(error).splitlines()[0]}); fix it, then run {command} again."
        ) from None
    if data is None:  # an empty file
        data = round_trip().load("version: 2\n")
    if not isinstance(data, dict) or not isinstance(data.get(key, []), list):
        raise PipelineError(f"{path} is not a dbt {key} file; fix it or move it, then run {command} again.")
    if data.get(key) is None:
        data[key] = []
    if sequence is None or offset is None or sequence <= offset:  # nothing to guess from: dbt's layout
        return Document(data)
    return Document(data, sequence - offset, offset)


def write(files: dict[Path, str]) -> None:
    """Write every file to a temporary file beside it, then rename them all, so none is left half-written.

    Raises PipelineError naming the file when its folder cannot be written (a read-only checkout, the step image);
    then no file of `files` is changed (the temporary files are removed).
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False, suffix=".tmp") as f:
                staged.append((Path(f.name), path))
                f.write(text)
    except OSError as error:
        for partial, _ in staged:
            partial.unlink(missing_ok=True)
        raise PipelineError(
            f"cannot write {path} ({error.strerror}); this command edits the project's files: run it in a checkout "
            "you can write to (the step image's project files are read-only)."
        ) from None
    for partial, path in staged:
        partial.replace(path)
