from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from {{ cookiecutter.package_name }} import cli, generate

SCALE = 0.02


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Files at a small scale, with the finance reference in reference/ beside them (read only by the tests)."""
    out = tmp_path_factory.mktemp("generated")
    generate.write(SCALE, generate.SEED, out / "raw", say=lambda _: None, reference_dir=out / "reference")
    return out


def _manifest(raw: Path) -> dict[str, dict[str, int]]:
    files: dict[str, dict[str, int]] = json.loads((raw / generate.MANIFEST).read_text(encoding="utf-8"))["files"]
    return files


def _rows(raw: Path, table: str) -> list[tuple[str | None, ...]]:
    """Every data row of a file as text in file order (None is missing), broken lines excepted."""
    path = raw / generate.FILES[table]
    names = list(generate.COLUMNS[table])
    if path.suffix == ".jsonl":
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            rows.append(tuple(None if record[n] is None else str(record[n]) for n in names))
        return rows
    if path.suffix == ".csv":
        lines = path.read_text(encoding="utf-8").splitlines()[1:]
        return [
            tuple(value if value != "" else None for value in line.split(","))
            for line in lines
            if line.count(",") == len(names) - 1
        ]
    return [
        tuple(None if value is None else str(value) for value in row)
        for row in duckdb.execute(f"select {', '.join(names)} from read_parquet(?)", [str(path)]).fetchall()
    ]


def test_the_same_seed_gives_the_same_bytes_and_another_seed_other_bytes(tmp_path: Path) -> None:
    for name, seed in [("a", 7), ("b", 7), ("c", 8)]:
        generate.write(0.005, seed, tmp_path / name, say=lambda _: None, reference_dir=tmp_path / name / "ref")
    for file_name in [*generate.FILES.values(), generate.MANIFEST, "ref/monthly_net_revenue.csv"]:
        first = (tmp_path / "a" / file_name).read_bytes()
        assert (tmp_path / "b" / file_name).read_bytes() == first, file_name
        if file_name != generate.MANIFEST:
            assert (tmp_path / "c" / file_name).read_bytes() != first, file_name


def test_the_hash_in_sql_is_the_hash_in_python() -> None:
    with duckdb.connect() as con:
        con.execute(generate._MACROS)
        values = [0, 1, 12345, 2**31, 2**32 - 1]
        in_sql = con.execute(f"select [{', '.join(f'mix({v})' for v in values)}]").fetchone()
    assert in_sql == ([generate._mix32(v) for v in values],)
    assert len({generate._mix32(v) for v in range(10_000)}) == 10_000  # a bijection: no two ids collide


def test_scale_factor_one_is_about_a_hundred_thousand_orders() -> None:
    assert generate.sizes(1.0)["orders"] == 100_000
    assert generate.sizes(0.1)["orders"] == 10_000
    assert generate.sizes(0.0001)["orders"] == 100  # a floor keeps tiny scales meaningful


@pytest.mark.parametrize("scale", [0, -1])
def test_a_scale_at_or_below_zero_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale must be greater than 0"):
        generate.sizes(scale)


def test_the_files_hold_the_counts_of_their_manifest(made: Path) -> None:
    files = _manifest(made / "raw")
    for table, file_name in generate.FILES.items():
        entry = files[file_name]
        broken = int(table in generate.BROKEN_LINES)
        assert len(_rows(made / "raw", table)) + broken == entry["rows"], table
        assert entry["rows"] == entry["valid_rows"] + entry["duplicate_rows"] + entry["malformed_rows"], table
        expected = generate.sizes(SCALE).get(table)
        assert expected is None or entry["valid_rows"] == expected, table


def test_valid_rows_are_consistent_and_in_id_order(made: Path) -> None:
    files = _manifest(made / "raw")
    valid = {t: _rows(made / "raw", t)[: files[f]["valid_rows"]] for t, f in generate.FILES.items()}
    for table, rows in valid.items():
        assert [row[0] for row in rows] == [str(i) for i in range(1, len(rows) + 1)], table  # dense, in order
        assert all(value is not None for row in rows for value in row), table
    signups = {row[0]: row[5] for row in valid["customers"]}
    prices = {row[0]: row[4] for row in valid["products"]}
    orders = {str(row[0]): row for row in valid["orders"]}
    for _, customer_id, ordered_at, _, _ in orders.values():
        assert str(ordered_at) >= str(signups[str(customer_id)]) and str(ordered_at).startswith("2025-")
    net = dict.fromkeys(orders, 0)
    for _, order_id, product_id, quantity, price, discount in valid["order_items"]:
        assert price == prices[str(product_id)] and 1 <= int(str(quantity)) <= 5
        gross = int(str(quantity)) * _cents(price)
        assert _cents(discount) in (0, gross // 10)
        net[str(order_id)] += gross - _cents(discount)
    assert all(net.values())  # every order has at least one item
    paid: dict[str, list[int]] = {}
    for _, order_id, paid_at, _, amount in valid["payments"]:
        assert str(paid_at) >= str(orders[str(order_id)][2])
        paid.setdefault(str(order_id), []).append(_cents(amount))
    for order_id, row in orders.items():
        if row[3] == "cancelled":
            assert order_id not in paid
        else:
            assert len(paid[order_id]) in (1, 2) and sum(paid[order_id]) == net[order_id], order_id


def test_the_products_feed_repeats_a_few_valid_rows_verbatim_after_the_valid_ones(made: Path) -> None:
    files = _manifest(made / "raw")
    for table, file_name in generate.FILES.items():
        count = files[file_name]["duplicate_rows"]
        if table not in generate.DUPLICATED_TABLES:
            assert count == 0, table
            continue
        rows = _rows(made / "raw", table)
        valid = rows[: files[file_name]["valid_rows"]]
        repeated = rows[len(valid) : len(valid) + count]
        assert count == max(1, round(len(valid) * generate.DUPLICATE_SHARE))
        assert all(row in valid for row in repeated)
        assert len({row[0] for row in repeated}) == count
        assert [int(str(row[0])) for row in repeated] == sorted(int(str(row[0])) for row in repeated)


def test_a_scale_that_rounds_to_no_duplicate_still_repeats_one(tmp_path: Path) -> None:
    generated = generate.write(0.0001, 1, tmp_path, say=lambda _: None)
    assert generated.counts["products"].duplicate_rows == 1


def test_each_malformed_row_has_an_unused_id_and_breaks_exactly_one_rule(made: Path) -> None:
    files = _manifest(made / "raw")
    for table, file_name in generate.FILES.items():
        entry = files[file_name]
        rows = _rows(made / "raw", table)[entry["valid_rows"] + entry["duplicate_rows"] :]
        assert len(rows) == entry["malformed_rows"] - int(table in generate.BROKEN_LINES) > 0, table
        types = list(generate.COLUMNS[table].values())
        for turn, row in enumerate(rows):
            bad = [i for i, (value, t) in enumerate(zip(row, types, strict=True)) if not _holds(value, t)]
            assert bad == [generate.BREAKERS[table][turn % len(generate.BREAKERS[table])][0]], (table, row)
            if bad != [0]:
                assert int(str(row[0])) > entry["valid_rows"], (table, row)  # an id no valid row uses
            if table in ("order_items", "payments") and bad != [1]:
                assert row[1] == "1", (table, row)


def test_json_lines_carry_integers_and_amounts_as_numbers_and_the_rest_as_text(made: Path) -> None:
    lines = (made / "raw" / generate.FILES["payments"]).read_text(encoding="utf-8").splitlines()
    first = json.loads(lines[0])
    assert [type(first[name]) for name in generate.COLUMNS["payments"]] == [int, int, str, str, float]
    malformed = [json.loads(line) for line in lines[-4:-1]]
    assert [record["amount"] for record in malformed if isinstance(record["amount"], str)] == ["twelve"]
    assert lines[-1] == generate.BROKEN_LINES["payments"]


def test_the_monthly_net_revenue_reference_is_what_the_non_cancelled_orders_were_paid(made: Path) -> None:
    lines = (made / "reference" / "monthly_net_revenue.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "month,net_revenue"
    reference = [tuple(line.split(",")) for line in lines[1:]]
    assert [month for month, _ in reference] == [f"2025-{m:02d}-01" for m in range(1, 13)]
    assert all(len(revenue.split(".")[1]) == 2 for _, revenue in reference)
    files = _manifest(made / "raw")
    orders = _rows(made / "raw", "orders")[: files["orders.parquet"]["valid_rows"]]
    items = _rows(made / "raw", "order_items")[: files["order_items.parquet"]["valid_rows"]]
    month = {row[0]: f"{str(row[2])[:7]}-01" for row in orders if row[3] != "cancelled"}
    expected: dict[str, int] = {}
    for _, order_id, _, quantity, price, discount in items:
        if str(order_id) in month:
            key = month[str(order_id)]
            expected[key] = expected.get(key, 0) + int(str(quantity)) * _cents(price) - _cents(discount)
    assert {m: _cents(revenue) for m, revenue in reference} == expected


def test_the_reference_is_written_with_its_own_checksum_manifest(made: Path) -> None:
    reference = made / "reference"
    assert sorted(p.name for p in reference.iterdir()) == sorted(
        [*generate.REFERENCE_FILES.values(), generate.MANIFEST]
    )
    assert generate.verify_manifest(reference) == []


def test_the_generate_command_writes_every_format_and_a_manifest(tmp_path: Path) -> None:
    assert cli.main(["generate", "--scale", "0.001", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*generate.FILES.values(), generate.MANIFEST])
    assert generate.verify_manifest(tmp_path) == []


def test_a_reference_folder_that_cannot_be_made_is_named_and_no_data_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    out = tmp_path / "raw"
    assert cli.main(["generate", "--scale", "0.001", "--out", str(out), "--reference", str(blocker / "ref")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write to --reference '"), err
    assert err.endswith(": Not a directory.\n"), err
    assert not any(out.iterdir())


def test_generated_data_for_a_scale_is_made_once_and_reused(tmp_path: Path) -> None:
    first = generate.ensure(0.001, tmp_path)
    stamp = (first / "orders.parquet").stat().st_mtime_ns
    assert generate.ensure(0.001, tmp_path) == first
    assert (first / "orders.parquet").stat().st_mtime_ns == stamp
    (first / "orders.parquet").write_bytes(b"tampered")
    generate.ensure(0.001, tmp_path)  # a broken checksum regenerates
    assert generate.verify_manifest(first) == []


def _cents(value: object) -> int:
    whole, _, fraction = str(value).partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0")[:2])


def _holds(value: str | None, data_type: str) -> bool:
    """Whether a text value is present and its column's type can hold it (what ingestion checks)."""
    if value is None:
        return False
    cast = duckdb.execute(f"select try_cast(? as {data_type}) is not null", [value]).fetchone()
    return cast == (True,)
