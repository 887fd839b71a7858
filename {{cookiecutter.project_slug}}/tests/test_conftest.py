"""The shared example (conftest.py): copied once per session, read-only, and a `project` copy costs no file bytes."""

from __future__ import annotations

from pathlib import Path

from conftest import DBT_FILES, PROJECT_DIR, Example, copy_project


def _files(root: Path) -> list[Path]:
    return sorted(path.relative_to(root) for path in root.rglob("*") if path.is_file())


def test_a_project_copy_links_every_file_of_the_shared_example(project: Path, example: Path) -> None:
    """One pytest run once wrote 42 full copies of data/ (808 MB) to the temp folder: a copy is links now."""
    assert project != example
    assert _files(project) == _files(example) != []
    assert all((project / rel).samefile(example / rel) for rel in _files(project))
    assert {path.name for path in example.iterdir()} == {name for name in DBT_FILES if (PROJECT_DIR / name).exists()}


def test_a_copy_of_the_real_project_never_links_into_it(tmp_path: Path) -> None:
    copy = copy_project(tmp_path / "copy")
    assert _files(copy) != []
    assert not any((copy / rel).samefile(PROJECT_DIR / rel) for rel in _files(copy))


def test_a_file_written_in_place_through_a_link_is_put_back_in_the_example(tmp_path: Path) -> None:
    shared = Example(tmp_path / "example")
    copy = copy_project(tmp_path / "copy", source=shared.root)
    written = copy / "dbt_project.yml"
    with written.open("a", encoding="utf-8") as handle:  # in place: the shared inode changes too
        handle.write("# a test's edit\n")
    (copy / "profiles.yml").chmod(0o600)
    (shared.root / "stray.txt").write_text("left by a test", encoding="utf-8")
    assert shared.repair() == ["dbt_project.yml", "profiles.yml", "stray.txt"]
    for name in ("dbt_project.yml", "profiles.yml"):
        assert (shared.root / name).read_bytes() == (PROJECT_DIR / name).read_bytes()
    assert not (shared.root / "stray.txt").exists()
    assert written.read_text(encoding="utf-8").endswith("# a test's edit\n")  # the test's own copy keeps its edit
    assert shared.repair() == []
