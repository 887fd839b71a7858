"""In-process unit tests of `publish`: which relations are published, and the all-or-nothing copy."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from {{ cookiecutter.package_name }} import publish
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import PipelineError
from {{ cookiecutter.package_name }}.publish import Relation
from {{ cookiecutter.package_name }}.warehouses import KILL_DURING_PUBLISH
from {{ cookiecutter.package_name }}.warehouses.duckdb import _staging_copy, snapshot


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        env="dev",
        name="dev",
        project_dir=tmp_path,
        duckdb_path=tmp_path / "data" / "shop.duckdb",
        raw_dir=tmp_path / "raw",
        threads=1,
    )


def _node(
    schema: str, alias: str, folder: str = "marts", kind: str = "model", materialized: str = "table"
) -> dict[str, Any]:
    return {
        "resource_type": kind,
        "schema": schema,
        "alias": alias,
        "fqn": ["shop", folder, alias],
        "config": {"materialized": materialized},
    }


def test_published_relations_only_built_table_like_marts_sorted(tmp_path: Path) -> None:
    nodes = {
        "model.shop.b": _node("marts", "fct_b"),
        "model.shop.a": _node("marts", "dim_a", materialized="incremental"),
        "model.shop.z": _node("analytics", "fct_z"),
        "model.shop.view": _node("marts", "v", materialized="view"),
        "model.shop.stg": _node("staging", "stg_x", folder="staging"),
        "seed.shop.s": _node("marts", "s", kind="seed"),
        "model.shop.unbuilt": _node("marts", "unbuilt"),
    }
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": nodes}), encoding="utf-8")
    built = [
        "model.shop.b",
        "model.shop.a",
        "model.shop.z",
        "model.shop.view",
        "model.shop.stg",
        "seed.shop.s",
        "model.shop.gone",
        "model.shop.b",
    ]
    assert publish.published_relations(manifest, built) == [
        Relation("analytics", "fct_z"),
        Relation("marts", "dim_a"),
        Relation("marts", "fct_b"),
    ]


def test_published_relations_tolerates_missing_keys_and_manifest(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"nodes": {"model.shop.bare": {"resource_type": "model"}}}), encoding="utf-8")
    assert publish.published_relations(manifest, ["model.shop.bare"]) == []
    no_config = {"resource_type": "model", "schema": "marts", "alias": "m", "fqn": ["shop", "marts", "m"]}
    manifest.write_text(json.dumps({"nodes": {"model.shop.m": no_config}}), encoding="utf-8")
    assert publish.published_relations(manifest, ["model.shop.m"]) == []
    manifest.write_text("{}", encoding="utf-8")
    assert publish.published_relations(manifest, ["model.shop.bare"]) == []
    assert publish.published_relations(tmp_path / "absent.json", ["model.shop.bare"]) == []


def _audit(settings: Settings, rows: dict[str, list[tuple[int, str]]]) -> None:
    settings.duckdb_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        for qualified, values in rows.items():
            schema, _ = qualified.split(".")
            con.execute(f"create schema if not exists {schema}")
            con.execute(f"create or replace table {qualified} (id integer, label varchar)")
            con.executemany(f"insert into {qualified} values (?, ?)", values)


def test_publish_copies_every_relation_and_leaves_no_staging_files(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _audit(settings, {"marts.fct_a": [(2, "b"), (1, "a")], "marts.dim_b": [(3, "c")], "other.x": [(9, "z")]})
    relations = [Relation("marts", "fct_a"), Relation("marts", "dim_b")]
    assert publish.publish(settings, relations) == relations
    assert snapshot(settings.duckdb_path) == {
        "marts.dim_b": [(3, "c")],
        "marts.fct_a": [(1, "a"), (2, "b")],
    }
    assert sorted(p.name for p in settings.duckdb_path.parent.iterdir()) == ["shop.duckdb", "shop__audit.duckdb"]


def test_publish_replaces_tables_keeps_others_and_removes_leftovers(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    target = settings.duckdb_path
    target.parent.mkdir(parents=True)
    with duckdb.connect(str(target)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_a as select 0 as id, 'old' as label")
        con.execute("create table marts.keep as select 7 as id")
    leftover = target.with_name(".shop.duckdb.12345.publishing")
    leftover.write_bytes(b"junk")
    leftover.with_name(leftover.name + ".wal").write_bytes(b"junk")
    unrelated = target.with_name(".other.duckdb.1.publishing")
    unrelated.write_bytes(b"keep")
    _audit(settings, {"marts.fct_a": [(1, "new")]})
    publish.publish(settings, [Relation("marts", "fct_a")])
    assert snapshot(target) == {"marts.fct_a": [(1, "new")], "marts.keep": [(7,)]}
    assert not leftover.exists()
    assert not leftover.with_name(leftover.name + ".wal").exists()
    assert unrelated.read_bytes() == b"keep"
    assert not target.with_name("shop.duckdb.wal").exists()


def test_publishing_the_same_marts_again_leaves_the_file_the_same_size(tmp_path: Path) -> None:
    """Replacing tables inside a copy of the old file doubled it every other publish; a new file does not grow."""
    settings = _settings(tmp_path)
    settings.duckdb_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_a as select i as id, 'label ' || i as label from range(300000) as t(i)")
    relations = [Relation("marts", "fct_a")]
    publish.publish(settings, relations)
    first = settings.duckdb_path.stat().st_size
    publish.publish(settings, relations)
    assert settings.duckdb_path.stat().st_size <= first * 1.05
    assert snapshot(settings.duckdb_path)["marts.fct_a"][:1] == [(0, "label 0")]


def test_staging_copy_carries_the_write_ahead_log(tmp_path: Path) -> None:
    target = tmp_path / "shop.duckdb"
    target.write_bytes(b"db")
    target.with_name("shop.duckdb.wal").write_bytes(b"log")
    staged = _staging_copy(target)
    assert staged == tmp_path / f".shop.duckdb.{os.getpid()}.publishing"
    assert staged.read_bytes() == b"db"
    assert staged.with_name(staged.name + ".wal").read_bytes() == b"log"


def test_staging_copy_of_a_missing_file_is_only_a_path(tmp_path: Path) -> None:
    staged = _staging_copy(tmp_path / "shop.duckdb")
    assert staged == tmp_path / f".shop.duckdb.{os.getpid()}.publishing"
    assert not staged.exists()


def test_publish_of_nothing_touches_nothing(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    assert publish.publish(settings, []) == []
    assert not settings.duckdb_path.parent.exists()


def test_failed_publish_is_one_sentence_and_leaves_consumers_file_unchanged(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    target = settings.duckdb_path
    target.parent.mkdir(parents=True)
    with duckdb.connect(str(target)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_a as select 0 as id")
    before = target.read_bytes()
    _audit(settings, {"marts.fct_a": [(1, "new")]})
    with pytest.raises(PipelineError) as caught:
        publish.publish(settings, [Relation("marts", "fct_a"), Relation("marts", "missing")])
    message = str(caught.value)
    assert message.startswith("publish failed, consumers still see the previous tables: Catalog Error: ")
    assert "missing" in message
    assert target.read_bytes() == before
    assert sorted(p.name for p in target.parent.iterdir()) == ["shop.duckdb", "shop__audit.duckdb"]
    # The audit connection was closed and the copy detached: the audit file opens again.
    with duckdb.connect(str(settings.audit_path)) as con:
        assert con.execute("select * from marts.fct_a").fetchall() == [(1, "new")]


def test_snapshot_lists_base_tables_sorted_and_skips_views(tmp_path: Path) -> None:
    database = tmp_path / "s.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute("create schema b")
        con.execute("create table b.t as select * from (values (2), (1)) v(x)")
        con.execute("create table main.a as select 'q' as y")
        con.execute("create view main.v as select 1 as z")
    assert snapshot(database) == {"b.t": [(1,), (2,)], "main.a": [("q",)]}
    assert snapshot(tmp_path / "absent.duckdb") == {}


class _Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, and no `except duckdb.Error` catches it."""


def test_the_injected_kill_stops_publish_after_its_first_relation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = dataclasses.replace(_settings(tmp_path), fault=KILL_DURING_PUBLISH)
    _audit(settings, {"marts.a": [(1, "a")], "marts.b": [(2, "b")]})
    signals: list[tuple[int, int]] = []

    def kill(pid: int, signum: int) -> None:
        signals.append((pid, signum))
        raise _Killed

    monkeypatch.setattr(os, "kill", kill)
    with pytest.raises(_Killed):
        publish.publish(settings, [Relation("marts", "a"), Relation("marts", "b")])
    assert signals == [(os.getpid(), signal.SIGKILL)]
    assert not settings.duckdb_path.exists()  # the consumers' file never appeared
    with pytest.raises(_Killed):  # a single relation: the stop comes after the first, not the second
        publish.publish(settings, [Relation("marts", "a")])
    assert signals == [(os.getpid(), signal.SIGKILL)] * 2
    monkeypatch.undo()
    signals.clear()
    unfaulted = _settings(tmp_path)
    publish.publish(unfaulted, [Relation("marts", "a"), Relation("marts", "b")])
    assert snapshot(unfaulted.duckdb_path) == {"marts.a": [(1, "a")], "marts.b": [(2, "b")]}


def test_publish_replays_and_removes_the_old_files_write_ahead_log(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    target = settings.duckdb_path
    target.parent.mkdir(parents=True)
    # A writer that died before a checkpoint: its last table exists only in the .wal beside the file.
    script = (
        "import duckdb, os, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "con.execute('create table main.seed as select 1 as id')\n"
        "con.execute('checkpoint')\n"
        "con.execute('pragma disable_checkpoint_on_shutdown')\n"
        "con.execute(\"set wal_autocheckpoint = '1GB'\")\n"
        "con.execute('create table main.late as select 5 as id')\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(target)], check=True)
    wal = target.with_name("shop.duckdb.wal")
    assert wal.is_file()
    _audit(settings, {"marts.fct_a": [(1, "new")]})
    publish.publish(settings, [Relation("marts", "fct_a")])
    assert not wal.exists()
    assert snapshot(target) == {"main.late": [(5,)], "main.seed": [(1,)], "marts.fct_a": [(1, "new")]}


def test_publish_names_the_process_holding_the_audit_database(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    _audit(settings, {"marts.fct_a": [(1, "new")]})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()",
            str(settings.audit_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "ready\n"
        with pytest.raises(PipelineError) as caught:
            publish.publish(settings, [Relation("marts", "fct_a")])
    finally:
        holder.communicate("")
    assert str(caught.value) == (
        f"{settings.audit_path} is open in another process (pid {holder.pid}, e.g. a BI tool or notebook); "
        "close the other connection or wait, then run again."
    )
    assert not settings.duckdb_path.exists()


def test_publishing_the_same_relations_again_leaves_the_file_its_size(tmp_path: Path) -> None:
    """A replaced table's blocks stay in a DuckDB file: the consumers' file is written new, never grows run on run."""
    settings = _settings(tmp_path)
    settings.duckdb_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_a as select range as id, md5(range::varchar) as label from range(200000)")
        con.execute("create table marts.dim_b as select range as id from range(50000)")
    relations = [Relation("marts", "fct_a"), Relation("marts", "dim_b")]
    sizes = []
    for _ in range(3):
        publish.publish(settings, relations)
        sizes.append(settings.duckdb_path.stat().st_size)
    assert max(sizes) <= min(sizes) * 1.05, sizes
    publish.publish(settings, relations[:1])  # a slim run: dim_b is carried over from the previous file
    assert sorted(snapshot(settings.duckdb_path)) == ["marts.dim_b", "marts.fct_a"]
    assert settings.duckdb_path.stat().st_size <= min(sizes) * 1.05
