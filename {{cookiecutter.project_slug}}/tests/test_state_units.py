"""In-process unit tests of `state`: which production state Slim CI compares with, and the selection it builds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import build, state
from {{ cookiecutter.package_name }}.config import Settings


def _settings(project: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "env": "ci",
        "name": "ci",
        "project_dir": project,
        "duckdb_path": project / "ci.duckdb",
        "raw_dir": project / "raw",
        "threads": 1,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _repo(root: Path, branch: str = "main") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "--quiet", "-b", branch)
    _git(root, "config", "user.email", "t@example.com")
    _git(root, "config", "user.name", "T")
    _git(root, "config", "commit.gpgsign", "false")
    (root / "dbt_project.yml").write_text("name: base\n", encoding="utf-8")
    _git(root, "add", "-A")
    _git(root, "commit", "--quiet", "-m", "base")
    return root


def test_git_returns_stripped_stdout_or_none(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    assert state._git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "main"
    assert state._git(repo, "rev-parse", "no-such-ref") is None
    assert state._git(tmp_path / "missing-dir", "status") is None  # OSError: cwd does not exist


def test_merge_base_prefers_origin_main_then_main(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    base = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "--quiet", "-b", "feature")
    (repo / "x.sql").write_text("select 1\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "change")
    assert state.merge_base(repo) == base  # only `main` exists
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    assert state.merge_base(repo) == _git(repo, "rev-parse", "HEAD")  # origin/main wins
    assert state.BASE_REFS == ("origin/main", "main")


def test_merge_base_none_without_main(tmp_path: Path) -> None:
    assert state.merge_base(_repo(tmp_path / "r", branch="trunk")) is None
    assert state.merge_base(tmp_path) is None  # not a repository


def test_worktree_checks_out_the_commit_under_the_project_prefix_and_removes_it(tmp_path: Path) -> None:
    repo = _repo(tmp_path / "r")
    sub = repo / "proj"
    sub.mkdir()
    (sub / "dbt_project.yml").write_text("name: old\n", encoding="utf-8")
    _git(repo, "add", "-A")
    _git(repo, "commit", "--quiet", "-m", "sub")
    sha = _git(repo, "rev-parse", "HEAD")
    (sub / "dbt_project.yml").write_text("name: new\n", encoding="utf-8")
    with state._worktree(sub, sha) as tree:
        assert tree.name == "proj"
        assert tree.parent.name == "tree"
        assert tree.parent.parent.name.startswith("merge-base-")
        assert (tree / "dbt_project.yml").read_text(encoding="utf-8") == "name: old\n"
        kept = tree
    assert not kept.parent.exists()
    assert _git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def _fake_parse(monkeypatch: pytest.MonkeyPatch, success: bool, write: bool) -> list[list[str]]:
    calls: list[list[str]] = []

    def invoke(settings: Settings, args: list[str]) -> build.BuildResult:
        assert isinstance(settings, Settings)  # dbt runs with this environment's variables
        calls.append(args)
        out = Path(args[args.index("--target-path") + 1])
        if write:
            out.mkdir(parents=True, exist_ok=True)
            (out / "manifest.json").write_text("{}", encoding="utf-8")
        return build.BuildResult("parse", success, ())

    monkeypatch.setattr(build, "invoke", invoke)
    return calls


def test_compile_merge_base_parses_the_old_tree_into_name_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path / "r")
    settings = _settings(repo)
    calls = _fake_parse(monkeypatch, success=True, write=True)
    out = state.compile_merge_base(settings, _git(repo, "rev-parse", "HEAD"))
    assert out == repo / "target" / "ci-base"
    assert len(calls) == 1
    assert calls[0][0] == "parse"
    project_dir = Path(calls[0][calls[0].index("--project-dir") + 1])
    assert project_dir.name == "tree"
    assert project_dir != repo


def test_the_merge_base_parsed_at_the_same_commit_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next slim run at the same merge-base skips the checkout and the parse; another commit parses again."""
    repo = _repo(tmp_path / "r")
    settings = _settings(repo)
    calls = _fake_parse(monkeypatch, success=True, write=True)
    first = _git(repo, "rev-parse", "HEAD")
    out = state.compile_merge_base(settings, first)
    assert out is not None
    assert state.compile_merge_base(settings, first) == out
    assert len(calls) == 1
    (repo / "README.md").write_text("changed\n", encoding="utf-8")
    _git(repo, "add", "README.md")
    _git(repo, "commit", "--quiet", "-m", "next")
    assert state.compile_merge_base(settings, _git(repo, "rev-parse", "HEAD")) == out
    assert len(calls) == 2
    (out / state.PARSED_AT).write_text("{half", encoding="utf-8")  # a stamp cut short: parse again
    assert state.compile_merge_base(settings, _git(repo, "rev-parse", "HEAD")) == out
    assert len(calls) == 3


@pytest.mark.parametrize(("success", "write"), [(False, True), (True, False)])
def test_compile_merge_base_none_when_parse_fails_or_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, success: bool, write: bool
) -> None:
    repo = _repo(tmp_path / "r")
    _fake_parse(monkeypatch, success=success, write=write)
    assert state.compile_merge_base(_settings(repo), _git(repo, "rev-parse", "HEAD")) is None


def test_compile_merge_base_none_when_the_old_tree_has_no_dbt_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "r")
    _git(repo, "rm", "--quiet", "dbt_project.yml")
    _git(repo, "commit", "--quiet", "-m", "gone")
    calls = _fake_parse(monkeypatch, success=True, write=True)
    assert state.compile_merge_base(_settings(repo), _git(repo, "rev-parse", "HEAD")) is None
    assert calls == []


def test_resolve_full_build_without_any_state(tmp_path: Path) -> None:
    said: list[str] = []
    got = state.resolve(_settings(tmp_path, state_dir=tmp_path / "nope"), say=said.append)
    assert got == state.State("none (full build)", None, ())
    assert said == ["  state: no production manifest and no merge-base with main: full build"]


def _manifest_dir(tmp_path: Path) -> Path:
    saved = tmp_path / "prod-state"
    saved.mkdir()
    (saved / "manifest.json").write_text("{}", encoding="utf-8")
    return saved


def test_resolve_saved_manifest_without_production_database(tmp_path: Path) -> None:
    saved = _manifest_dir(tmp_path)
    said: list[str] = []
    got = state.resolve(_settings(tmp_path, state_dir=saved, defer_path=tmp_path / "absent.duckdb"), say=said.append)
    source = f"production manifest from {saved}"
    assert got == state.State(
        source,
        saved,
        ("--select", "@state:modified", "--indirect-selection", "cautious", "--state", str(saved)),
    )
    assert said == [
        f"  state: {source}; building changed models with their children and all their parents "
        "(no production data to defer to)"
    ]


def test_resolve_saved_manifest_defers_to_production_database(tmp_path: Path) -> None:
    saved = _manifest_dir(tmp_path)
    prod = tmp_path / "prod.duckdb"
    prod.write_bytes(b"")
    said: list[str] = []
    got = state.resolve(_settings(tmp_path, state_dir=saved, defer_path=prod), say=said.append)
    source = f"production manifest from {saved}"
    selection = ("--select", "state:modified+", "--defer", "--favor-state", "--state", str(saved))
    assert got == state.State(source, saved, selection)
    assert said == [f"  state: {source}; building changed models and their children, the rest deferred to prod.duckdb"]


def test_resolve_compiles_the_merge_base_when_no_manifest_was_saved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repo(tmp_path / "r")
    sha = _git(repo, "rev-parse", "HEAD")
    _fake_parse(monkeypatch, success=True, write=True)
    said: list[str] = []
    got = state.resolve(_settings(repo), say=said.append)
    out = repo / "target" / "ci-base"
    assert got == state.State(
        f"manifest compiled at merge-base {sha[:12]}",
        out,
        ("--select", "@state:modified", "--indirect-selection", "cautious", "--state", str(out)),
    )
    assert said[0].startswith(f"  state: manifest compiled at merge-base {sha[:12]}; building changed models")


def test_resolve_full_build_when_the_merge_base_does_not_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = _repo(tmp_path / "r")
    _fake_parse(monkeypatch, success=False, write=False)
    said: list[str] = []
    assert state.resolve(_settings(repo), say=said.append) == state.State("none (full build)", None, ())
    assert said == ["  state: no production manifest and no merge-base with main: full build"]


def _node(*parents: str, materialized: str = "view") -> dict[str, object]:
    return {"depends_on": {"nodes": list(parents)}, "config": {"materialized": materialized}}


def test_the_sources_a_selection_reads_are_its_nodes_own_and_those_of_their_ephemeral_parents() -> None:
    orders, items, customers = "source.p.shop.orders", "source.p.shop.items", "source.p.shop.customers"
    manifest = {
        "sources": {orders: {}, items: {}, customers: {}},
        "nodes": {
            "model.p.stg_orders": _node(orders),
            "model.p.eph_items": _node(items, materialized="ephemeral"),
            "model.p.stg_customers": _node(customers),
            "model.p.mart": _node("model.p.stg_orders", "model.p.eph_items", "model.p.stg_customers"),
            "test.p.orders_not_null": _node(orders),
        },
    }
    # The mart alone: its view parents are deferred, its ephemeral parent is compiled into it.
    assert state.sources_read(manifest, ["model.p.mart"]) == {items}
    assert state.sources_read(manifest, ["model.p.stg_orders", "model.p.mart"]) == {orders, items}
    assert state.sources_read(manifest, ["test.p.orders_not_null"]) == {orders}  # a test on a source reads it
    assert state.sources_read(manifest, [customers]) == {customers}  # a selected (modified) source
    assert state.sources_read(manifest, []) == set()
