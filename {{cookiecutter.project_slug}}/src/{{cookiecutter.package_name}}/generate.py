"""Deterministic raw data for the example shop: the same seed and scale give the same files.

Scale factor 1 is about 100,000 orders. A small share of extra rows is malformed on
purpose (bad values, missing required values, a broken CSV line and a broken JSON line)
so that ingestion's quarantine always has something real to catch. Malformed rows use
ids that no valid row refers to, so every valid row stays consistent.

The products feed also repeats a few of its rows exactly, as real feeds do: the rows are
valid (nothing to quarantine), so the duplicate key reaches the warehouse and staging must
deduplicate it before a join fans out. A finance reference (net revenue per month) is
computed here in Python, independently of the warehouse, for reconciliation checks.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb

SEED = 20250101
SAMPLE_SCALE = 0.01
MANIFEST = "manifest.json"
MALFORMED_SHARE = 0.005
DUPLICATE_SHARE = 0.05  # of products repeated verbatim at the end of the feed (at least one)
ACTIVE_SHARE = 0.9  # of products still sold
DISCOUNTED_SHARE = 0.1  # of order items with a 10 % discount
SINGLE_PAYMENT_SHARE = 0.85  # of paid orders settled in one payment (the rest in two)

YEAR_START = datetime(2025, 1, 1)
YEAR_SECONDS = 365 * 24 * 3600
SIGNUP_START = datetime(2024, 1, 1)

FIRST_NAMES = ["ada", "bea", "carl", "dora", "emil", "fay", "gus", "hana", "ivo", "jun", "kai", "lea"]
LAST_NAMES = ["berg", "costa", "dahl", "evans", "fox", "grau", "holm", "ito", "jensen", "kova"]
COUNTRIES = ["DE", "FR", "NL", "GB", "US", "ES", "IT", "SE"]
CATEGORIES = ["tea", "coffee", "teaware", "snacks", "gifts"]
ADJECTIVES = ["smoky", "bright", "gentle", "bold", "floral", "classic", "wild", "golden"]
STATUSES = ["delivered", "shipped", "placed", "returned", "cancelled"]
STATUS_WEIGHTS = [60, 15, 10, 7, 8]
CHANNELS = ["web", "app", "store"]
CHANNEL_WEIGHTS = [55, 35, 10]
METHODS = ["card", "paypal", "gift_card", "bank_transfer"]
METHOD_WEIGHTS = [60, 25, 5, 10]

# Column order of every raw file, and the type its Parquet file carries.
COLUMNS: dict[str, dict[str, str]] = {
    "customers": {
        "customer_id": "integer",
        "first_name": "varchar",
        "last_name": "varchar",
        "email": "varchar",
        "country_code": "varchar",
        "signed_up_at": "timestamp",
    },
    "products": {
        "product_id": "integer",
        "sku": "varchar",
        "product_name": "varchar",
        "category": "varchar",
        "unit_price": "numeric(12,2)",
        "is_active": "boolean",
    },
    "orders": {
        "order_id": "integer",
        "customer_id": "integer",
        "ordered_at": "timestamp",
        "status": "varchar",
        "channel": "varchar",
    },
    "order_items": {
        "order_item_id": "integer",
        "order_id": "integer",
        "product_id": "integer",
        "quantity": "integer",
        "unit_price": "numeric(12,2)",
        "discount_amount": "numeric(12,2)",
    },
    "payments": {
        "payment_id": "integer",
        "order_id": "integer",
        "paid_at": "timestamp",
        "payment_method": "varchar",
        "amount": "numeric(12,2)",
    },
}
FILES = {
    "customers": "customers.csv",
    "products": "products.csv",
    "orders": "orders.parquet",
    "order_items": "order_items.parquet",
    "payments": "payments.jsonl",
}
# Tables whose feed repeats some rows verbatim.
DUPLICATED_TABLES = ("products",)
# The finance reference the warehouse is reconciled with (data/reference/ for the sample).
REFERENCE_FILES = {"monthly_net_revenue": "monthly_net_revenue.csv"}

Row = list[str | None]


@dataclass
class Dataset:
    """Rows per table as text (None is a missing value), plus what a reader should find."""

    scale: float
    seed: int
    rows: dict[str, list[Row]] = field(default_factory=dict)
    valid: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    broken_lines: dict[str, list[str]] = field(default_factory=dict)


def sizes(scale: float) -> dict[str, int]:
    """Row counts of the entity tables at a scale factor (SF 1 is about 100,000 orders)."""
    if scale <= 0:
        raise ValueError(f"scale must be greater than 0, got {scale}")
    return {
        "products": max(20, round(500 * scale)),
        "customers": max(50, round(20_000 * scale)),
        "orders": max(100, round(100_000 * scale)),
    }


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def generate(scale: float = SAMPLE_SCALE, seed: int = SEED) -> Dataset:
    """Make the shop's raw rows for a scale factor; pure, so tests can compare runs."""
    rng = random.Random(seed)
    n = sizes(scale)
    data = Dataset(scale=scale, seed=seed)

    prices: list[int] = []
    products: list[Row] = []
    for product_id in range(1, n["products"] + 1):
        cents = rng.randint(200, 8000)
        prices.append(cents)
        category = CATEGORIES[product_id % len(CATEGORIES)]
        name = f"{rng.choice(ADJECTIVES)} {category} no. {product_id}"
        active = "true" if rng.random() < ACTIVE_SHARE else "false"
        products.append([str(product_id), f"SKU-{product_id:05d}", name, category, money(cents), active])

    customers: list[Row] = []
    signups: list[datetime] = []
    for customer_id in range(1, n["customers"] + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        signed_up = SIGNUP_START + timedelta(seconds=rng.randrange(540 * 24 * 3600))
        signups.append(signed_up)
        email = f"{first}.{last}.{customer_id}@example.com"
        customers.append([str(customer_id), first, last, email, rng.choice(COUNTRIES), stamp(signed_up)])

    orders: list[Row] = []
    items: list[Row] = []
    payments: list[Row] = []
    for order_id in range(1, n["orders"] + 1):
        customer_id = rng.randint(1, n["customers"])
        earliest = max(signups[customer_id - 1], YEAR_START)
        window = int((YEAR_START + timedelta(seconds=YEAR_SECONDS) - earliest).total_seconds())
        ordered_at = earliest + timedelta(seconds=rng.randrange(max(window, 1)))
        status = rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        channel = rng.choices(CHANNELS, CHANNEL_WEIGHTS)[0]
        orders.append([str(order_id), str(customer_id), stamp(ordered_at), status, channel])

        net_cents = 0
        for _ in range(rng.choices([1, 2, 3, 4], [40, 30, 20, 10])[0]):
            product_id = rng.randint(1, n["products"])
            quantity = rng.randint(1, 5)
            gross = quantity * prices[product_id - 1]
            discount = gross // 10 if rng.random() < DISCOUNTED_SHARE else 0
            net_cents += gross - discount
            items.append(
                [
                    str(len(items) + 1),
                    str(order_id),
                    str(product_id),
                    str(quantity),
                    money(prices[product_id - 1]),
                    money(discount),
                ]
            )

        if status == "cancelled":
            continue
        shares = [net_cents] if rng.random() < SINGLE_PAYMENT_SHARE else [net_cents // 2, net_cents - net_cents // 2]
        method = rng.choices(METHODS, METHOD_WEIGHTS)[0]
        for share in shares:
            paid_at = ordered_at + timedelta(minutes=rng.randint(0, 120))
            payments.append([str(len(payments) + 1), str(order_id), stamp(paid_at), method, money(share)])

    data.rows = {
        "customers": customers,
        "products": products,
        "orders": orders,
        "order_items": items,
        "payments": payments,
    }
    data.valid = {table: len(rows) for table, rows in data.rows.items()}
    _add_duplicates(data, random.Random(f"{seed}-duplicates"))
    _add_malformed(data, rng)
    return data


def _add_duplicates(data: Dataset, rng: random.Random) -> None:
    """Repeat a few valid rows verbatim after the valid ones, in id order.

    A random generator of its own keeps every other row the same as without duplicates.
    """
    for table, rows in data.rows.items():
        count = max(1, round(len(rows) * DUPLICATE_SHARE)) if table in DUPLICATED_TABLES else 0
        picked = sorted(rng.sample(range(len(rows)), count))
        rows.extend(list(rows[i]) for i in picked)
        data.duplicates[table] = count


def _add_malformed(data: Dataset, rng: random.Random) -> None:
    """Append bad rows with unused ids: each breaks exactly one rule ingestion checks."""
    breakers: dict[str, list[tuple[int, str | None]]] = {
        "customers": [(3, None), (5, "not-a-date"), (0, "abc")],
        "products": [(4, "N/A"), (5, "maybe"), (4, None)],
        "orders": [(1, None), (2, None), (4, None)],
        "order_items": [(3, None), (2, None), (4, None)],
        "payments": [(4, "twelve"), (2, "yesterday"), (1, None)],
    }
    first_valid_order = data.rows["orders"][0][0]
    for table, rows in data.rows.items():
        valid_rows = rows[: data.valid[table]]
        count = max(1, round(len(valid_rows) * MALFORMED_SHARE))
        next_id = len(valid_rows) + 1
        for i in range(count):
            column, bad_value = breakers[table][i % len(breakers[table])]
            row = list(rng.choice(valid_rows))
            row[0] = str(next_id + i)
            if table in ("order_items", "payments"):
                row[1] = first_valid_order
            row[column] = bad_value
            if column == 0 and bad_value is not None:
                row[0] = bad_value
            rows.append(row)
        data.malformed[table] = count
    # Structural damage that a parser (not a type check) must catch.
    data.broken_lines["customers"] = ["999999,too,many,columns,DE,2025-01-01 00:00:00,extra"]
    data.broken_lines["payments"] = ['{"payment_id": 999999, "order_id": ']
    for table, lines in data.broken_lines.items():
        data.malformed[table] += len(lines)


def write(
    data: Dataset, out_dir: Path, say: Callable[[str], None] = print, reference_dir: Path | None = None
) -> dict[str, Path]:
    """Write every table in its file format and a checksum manifest; return the paths.

    With `reference_dir`, also write the finance reference there (see `write_reference`).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for table, file_name in FILES.items():
        path = out_dir / file_name
        writer = {".csv": _write_csv, ".parquet": _write_parquet, ".jsonl": _write_jsonl}[path.suffix]
        writer(table, data, path)
        extra = f", {data.duplicates[table]:,} duplicated" if data.duplicates.get(table) else ""
        say(f"  wrote {path} ({len(data.rows[table]):,} rows, {data.malformed[table]:,} malformed on purpose{extra})")
        paths[table] = path
    write_manifest(data, out_dir)
    if reference_dir is not None:
        paths.update(write_reference(data, reference_dir, say))
    return paths


def _write_csv(table: str, data: Dataset, path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS[table])
        writer.writerows(["" if value is None else value for value in row] for row in data.rows[table])
        for line in data.broken_lines.get(table, []):
            handle.write(line + "\n")


def _write_jsonl(table: str, data: Dataset, path: Path) -> None:
    names = list(COLUMNS[table])
    with path.open("w", encoding="utf-8") as handle:
        for row in data.rows[table]:
            record = {name: _json_value(value, COLUMNS[table][name]) for name, value in zip(names, row, strict=True)}
            handle.write(json.dumps(record) + "\n")
        for line in data.broken_lines.get(table, []):
            handle.write(line + "\n")


def _json_value(value: str | None, data_type: str) -> object:
    """Numbers as JSON numbers where they parse, like a real feed; anything else as text."""
    if value is None:
        return None
    if data_type == "integer" and value.lstrip("-").isdigit():
        return int(value)
    if data_type.startswith("numeric"):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _write_parquet(table: str, data: Dataset, path: Path) -> None:
    """Parquet carries real types, so its malformed rows can only be missing values."""
    columns = COLUMNS[table]
    with tempfile.TemporaryDirectory() as scratch:
        staged = Path(scratch) / f"{table}.csv"
        _write_csv(table, data, staged)
        # Through DuckDB's Python API: paths and column types are values here, never SQL text.
        with duckdb.connect() as con:
            con.read_csv(str(staged), header=True, dtype=dict(columns)).write_parquet(str(path), compression="zstd")


def checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(data: Dataset, out_dir: Path) -> Path:
    """Record how the files were made and their checksums, so drift is caught."""
    manifest = {
        "seed": data.seed,
        "scale": data.scale,
        "files": {
            FILES[table]: {
                "sha256": checksum(out_dir / FILES[table]),
                "rows": len(data.rows[table]) + len(data.broken_lines.get(table, [])),
                "valid_rows": data.valid[table],
                "duplicate_rows": data.duplicates.get(table, 0),
                "malformed_rows": data.malformed[table],
            }
            for table in FILES
        },
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def monthly_net_revenue(data: Dataset) -> list[tuple[str, str]]:
    """Net revenue per month (YYYY-MM-01, 2 decimals) of the orders that were not cancelled.

    Computed in integer cents from the valid rows only, without the warehouse: the reference a
    reconciliation compares the marts with. Net is quantity * unit price minus the line discount.
    """
    items = data.rows["order_items"][: data.valid["order_items"]]
    net_cents: defaultdict[str, int] = defaultdict(int)
    for _, order_id, _, quantity, price, discount in items:
        net_cents[str(order_id)] += int(str(quantity)) * _cents(price) - _cents(discount)
    months: defaultdict[str, int] = defaultdict(int)
    for order_id, _, ordered_at, status, _ in data.rows["orders"][: data.valid["orders"]]:
        if status != "cancelled":
            months[f"{str(ordered_at)[:7]}-01"] += net_cents[str(order_id)]
    return [(month, money(cents)) for month, cents in sorted(months.items())]


def _cents(value: str | None) -> int:
    whole, _, fraction = str(value).partition(".")
    return int(whole) * 100 + int(fraction.ljust(2, "0")[:2])


def write_reference(data: Dataset, reference_dir: Path, say: Callable[[str], None] = print) -> dict[str, Path]:
    """Write the finance reference and its own checksum manifest; return the paths."""
    reference_dir.mkdir(parents=True, exist_ok=True)
    path = reference_dir / REFERENCE_FILES["monthly_net_revenue"]
    rows = monthly_net_revenue(data)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["month", "net_revenue"])
        writer.writerows(rows)
    say(f"  wrote {path} ({len(rows):,} months)")
    manifest = {
        "seed": data.seed,
        "scale": data.scale,
        "files": {path.name: {"sha256": checksum(path), "rows": len(rows)}},
    }
    (reference_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return {"monthly_net_revenue": path}


def verify_manifest(out_dir: Path) -> list[str]:
    """Problems with the files against their manifest; an empty list means held constant."""
    manifest_path = out_dir / MANIFEST
    if not manifest_path.is_file():
        return [f"{manifest_path} is missing; regenerate the data with the `generate` command."]
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    problems = []
    for file_name, entry in manifest["files"].items():
        path = out_dir / file_name
        if not path.is_file():
            problems.append(f"{file_name} is listed in the manifest but missing")
        elif checksum(path) != entry["sha256"]:
            problems.append(f"{file_name} changed: its sha256 no longer matches the manifest")
    return problems


def ensure(scale: float, project_dir: Path, seed: int = SEED) -> Path:
    """Generated files for a scale factor, made once and reused while their checksums hold."""
    out_dir = project_dir / "warehouse" / "raw" / f"sf_{scale:g}_seed_{seed}"
    if verify_manifest(out_dir):
        print(f"  generating raw data at scale {scale:g} into {out_dir}")
        write(generate(scale, seed), out_dir)
    return out_dir
