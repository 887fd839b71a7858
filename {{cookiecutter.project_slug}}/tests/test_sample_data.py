"""The committed sample is data held constant: checksummed and reproducible from the generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from {{ cookiecutter.package_name }} import generate

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "raw" / "sample"
REFERENCE = Path(__file__).resolve().parents[1] / "data" / "reference"


def test_the_committed_sample_matches_its_checksum_manifest() -> None:
    assert generate.verify_manifest(SAMPLE) == []


def test_the_committed_reference_matches_its_checksum_manifest() -> None:
    assert generate.verify_manifest(REFERENCE) == []


def test_the_manifest_counts_valid_duplicate_and_malformed_rows() -> None:
    files = json.loads((SAMPLE / generate.MANIFEST).read_text(encoding="utf-8"))["files"]
    for name, entry in files.items():
        assert entry["rows"] == entry["valid_rows"] + entry["duplicate_rows"] + entry["malformed_rows"], name
    assert files["products.csv"]["duplicate_rows"] >= 1


def test_a_changed_file_is_caught(tmp_path: Path) -> None:
    copy = tmp_path / "sample"
    shutil.copytree(SAMPLE, copy)
    with (copy / "customers.csv").open("a", encoding="utf-8") as handle:
        handle.write("1,x,y,z@example.com,DE,2025-01-01 00:00:00\n")
    (copy / "orders.parquet").unlink()
    assert generate.verify_manifest(copy) == [
        "customers.csv changed: its sha256 no longer matches the manifest",
        "orders.parquet is listed in the manifest but missing",
    ]


def test_the_sample_and_reference_are_what_the_generator_makes_at_the_sample_scale(tmp_path: Path) -> None:
    manifest = json.loads((SAMPLE / generate.MANIFEST).read_text(encoding="utf-8"))
    reference = json.loads((REFERENCE / generate.MANIFEST).read_text(encoding="utf-8"))
    assert (reference["scale"], reference["seed"]) == (manifest["scale"], manifest["seed"])
    fresh = tmp_path / "fresh"
    generate.write(manifest["scale"], manifest["seed"], fresh, say=lambda _: None, reference_dir=tmp_path / "reference")
    for name in generate.FILES.values():
        if name.endswith(".parquet"):  # the same rows in the same order; the bytes also name DuckDB's version
            query = "select * from read_parquet(?)"
            old = duckdb.execute(query, [str(SAMPLE / name)]).fetchall()
            assert duckdb.execute(query, [str(fresh / name)]).fetchall() == old, name
        else:
            assert (fresh / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    for name in [*generate.REFERENCE_FILES.values(), generate.MANIFEST]:
        assert (tmp_path / "reference" / name).read_bytes() == (REFERENCE / name).read_bytes(), name
