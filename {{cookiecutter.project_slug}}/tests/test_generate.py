from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }} import cli, generate


def test_the_same_seed_gives_the_same_rows() -> None:
    assert generate.generate(0.01, seed=7).rows == generate.generate(0.01, seed=7).rows
    assert generate.generate(0.01, seed=7).rows != generate.generate(0.01, seed=8).rows


def test_scale_factor_one_is_about_a_hundred_thousand_orders() -> None:
    assert generate.sizes(1.0)["orders"] == 100_000
    assert generate.sizes(0.1)["orders"] == 10_000
    assert generate.sizes(0.0001)["orders"] == 100  # a floor keeps tiny scales meaningful


@pytest.mark.parametrize("scale", [0, -1])
def test_a_scale_at_or_below_zero_is_refused(scale: float) -> None:
    with pytest.raises(ValueError, match="scale must be greater than 0"):
        generate.sizes(scale)


def test_valid_rows_are_consistent_and_malformed_rows_are_extra() -> None:
    data = generate.generate(0.02)
    orders = data.rows["orders"][: data.valid["orders"]]
    items = data.rows["order_items"][: data.valid["order_items"]]
    payments = data.rows["payments"][: data.valid["payments"]]
    order_ids = {row[0] for row in orders}
    assert {row[1] for row in items} == order_ids  # every order has at least one item
    net: defaultdict[str, Decimal] = defaultdict(Decimal)
    for _, order_id, _, quantity, price, discount in items:
        assert quantity and price and discount
        net[str(order_id)] += int(quantity) * Decimal(price) - Decimal(discount)
    paid: defaultdict[str, Decimal] = defaultdict(Decimal)
    for row in payments:
        paid[str(row[1])] += Decimal(str(row[4]))
    for order_id, _, _, status, _ in orders:
        assert paid.get(str(order_id), Decimal(0)) == (Decimal(0) if status == "cancelled" else net[str(order_id)])
    for table, rows in data.rows.items():
        extra = len(rows) - data.valid[table] - data.duplicates[table] + len(data.broken_lines.get(table, []))
        assert extra == data.malformed[table] > 0


def test_the_products_feed_repeats_a_few_valid_rows_verbatim_after_the_valid_ones() -> None:
    data = generate.generate(0.02)
    for table, rows in data.rows.items():
        count = data.duplicates[table]
        if table not in generate.DUPLICATED_TABLES:
            assert count == 0, table
            continue
        valid = rows[: data.valid[table]]
        repeated = rows[data.valid[table] : data.valid[table] + count]
        assert count == max(1, round(len(valid) * generate.DUPLICATE_SHARE))
        assert len({row[0] for row in valid}) == len(valid)  # valid_rows counts distinct entities
        assert all(row in valid for row in repeated)
        assert len({row[0] for row in repeated}) == count
    assert generate.generate(0.0001).duplicates["products"] == 1  # at least one, at any scale


def test_the_monthly_net_revenue_reference_is_what_the_non_cancelled_orders_were_paid() -> None:
    data = generate.generate(0.02)
    reference = generate.monthly_net_revenue(data)
    assert [month for month, _ in reference] == [f"2025-{m:02d}-01" for m in range(1, 13)]
    assert all(revenue.count(".") == 1 and len(revenue.split(".")[1]) == 2 for _, revenue in reference)
    # Paid amounts are generated apart from the items; a cancelled order is never paid.
    payments = data.rows["payments"][: data.valid["payments"]]
    assert sum(Decimal(revenue) for _, revenue in reference) == sum(Decimal(str(row[4])) for row in payments)
    # Net of discounts: more than the discounted lines alone, less than the gross.
    items = data.rows["order_items"][: data.valid["order_items"]]
    gross = sum(int(str(row[3])) * Decimal(str(row[4])) for row in items)
    assert sum(Decimal(revenue) for _, revenue in reference) < gross


def test_the_reference_is_written_with_its_own_checksum_manifest(tmp_path: Path) -> None:
    data = generate.generate(0.001, seed=3)
    paths = generate.write(data, tmp_path / "raw", say=lambda _: None, reference_dir=tmp_path / "reference")
    reference = paths["monthly_net_revenue"]
    assert reference.read_text(encoding="utf-8").splitlines()[0] == "month,net_revenue"
    assert sorted(p.name for p in reference.parent.iterdir()) == sorted(
        [*generate.REFERENCE_FILES.values(), generate.MANIFEST]
    )
    assert generate.verify_manifest(reference.parent) == []


def test_the_generate_command_writes_every_format_and_a_manifest(tmp_path: Path) -> None:
    assert cli.main(["generate", "--scale", "0.001", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*generate.FILES.values(), generate.MANIFEST])
    assert generate.verify_manifest(tmp_path) == []


def test_generated_data_for_a_scale_is_made_once_and_reused(tmp_path: Path) -> None:
    first = generate.ensure(0.001, tmp_path)
    stamp = (first / "orders.parquet").stat().st_mtime_ns
    assert generate.ensure(0.001, tmp_path) == first
    assert (first / "orders.parquet").stat().st_mtime_ns == stamp
    (first / "orders.parquet").write_bytes(b"tampered")
    generate.ensure(0.001, tmp_path)  # a broken checksum regenerates
    assert generate.verify_manifest(first) == []
