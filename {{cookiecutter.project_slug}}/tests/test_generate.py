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
        extra = len(rows) - data.valid[table] + len(data.broken_lines.get(table, []))
        assert extra == data.malformed[table] > 0


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
