"""Deterministic raw data for the example shop, streamed by DuckDB: the same seed and scale give the same bytes.

Scale factor 1 is about 100,000 orders (`sizes`). Every value is a pure function of (seed, stream, row id):
a 32-bit counter-based hash defined here in integer SQL (`_mix32`, mirrored in Python), never DuckDB's own
`random()` or `hash()`, whose streams are not a documented stable contract. No table is held in memory: DuckDB
computes the rows from `range()` and `COPY` streams them to CSV, Parquet (zstd) and JSON lines in row-id order
(`preserve_insertion_order`, one pipeline per file). The orders, with their item and payment counts, running id
offsets and net amounts, are materialised once in a scratch DuckDB file beside the output (on disk, under
`MEMORY_LIMIT`), and removed at the end.

A small share of extra rows is malformed on purpose (bad values, missing required values, a broken CSV line
and a broken JSON line) so that ingestion's quarantine always has something real to catch. Malformed rows use
ids that no valid row refers to, so every valid row stays consistent. The products feed also repeats a few of
its rows exactly, as real feeds do: the rows are valid (nothing to quarantine), so the duplicate key reaches the
warehouse and staging must deduplicate it before a join fans out.

A finance reference (net revenue per month, integer cents) is computed here from the generated valid rows, in
DuckDB, by the same item formulas that wrote the items file and without the dbt models, for reconciliation checks.

DuckDB is a local, in-process compute engine here, not the warehouse: the files this writes load into any
warehouse through ingest (`warehouses/` is the only way to the warehouse).
"""

from __future__ import annotations

import csv
import errno
import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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
# DuckDB settings of the generator's own connection: a cap on its buffers (it spills to the scratch folder
# beyond it) and the threads of this 2-core machine class.
MEMORY_LIMIT = "256MB"
THREADS = 2

# Times are whole seconds after EPOCH, where signups start; orders fall in 2025.
EPOCH = "2024-01-01 00:00:00"
YEAR_START_S = 366 * 24 * 3600  # 2025-01-01 (2024 is a leap year)
YEAR_END_S = YEAR_START_S + 365 * 24 * 3600  # 2026-01-01, exclusive
SIGNUP_SPAN_S = 540 * 24 * 3600

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
ITEM_COUNTS = [1, 2, 3, 4]
ITEM_COUNT_WEIGHTS = [40, 30, 20, 10]

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
# Each malformed row breaks exactly one rule ingestion checks: (column index, bad value; None = missing), in turn.
BREAKERS: dict[str, list[tuple[int, str | None]]] = {
    "customers": [(3, None), (5, "not-a-date"), (0, "abc")],
    "products": [(4, "N/A"), (5, "maybe"), (4, None)],
    "orders": [(1, None), (2, None), (4, None)],
    "order_items": [(3, None), (2, None), (4, None)],
    "payments": [(4, "twelve"), (2, "yesterday"), (1, None)],
}
# Structural damage that a parser (not a type check) must catch, after the last row.
BROKEN_LINES = {
    "customers": "999999,too,many,columns,DE,2025-01-01 00:00:00,extra",
    "payments": '{"payment_id": 999999, "order_id": ',
}

# Independent random streams, one per purpose; a stream's number is its position, so only append to this list.
STREAMS = (
    "product_price", "product_adjective", "product_active", "product_duplicate",
    "customer_first", "customer_last", "customer_country", "customer_signup",
    "order_customer", "order_time", "order_status", "order_channel", "order_items",
    "order_split", "order_method",
    "item_product", "item_quantity", "item_discount",
    "payment_minutes",
    "malformed_customers", "malformed_products", "malformed_orders", "malformed_order_items", "malformed_payments",
)  # fmt: skip
_MASK = 0xFFFFFFFF


@dataclass(frozen=True)
class FileCounts:
    """Rows of one generated file: data rows (records, broken lines included) and what they are."""

    rows: int
    valid_rows: int
    duplicate_rows: int
    malformed_rows: int


@dataclass
class Generated:
    """What `write` made: the scale and seed, and the counts per table (keys of FILES)."""

    scale: float
    seed: int
    counts: dict[str, FileCounts] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Data rows in all files together."""
        return sum(entry.rows for entry in self.counts.values())


def sizes(scale: float) -> dict[str, int]:
    """Row counts of the entity tables at a scale factor (SF 1 is about 100,000 orders).

    Raises ValueError for a scale at or below zero.
    """
    if scale <= 0:
        raise ValueError(f"scale must be greater than 0, got {scale}")
    return {
        "products": max(20, round(500 * scale)),
        "customers": max(50, round(20_000 * scale)),
        "orders": max(100, round(100_000 * scale)),
    }


def _mix32(x: int) -> int:
    """A 32-bit avalanche mix (hash-prospector's [16 21f0aaad 15 735a2d97 15]); SQL `mix` is the same function."""
    x ^= x >> 16
    x = (x * 0x21F0AAAD) & _MASK
    x ^= x >> 15
    x = (x * 0x735A2D97) & _MASK
    return x ^ (x >> 15)


def stream_base(seed: int, stream: str) -> int:
    """The 32-bit offset of one random stream: draw i of it is `_mix32((base + i) mod 2**32)`."""
    return _mix32(_mix32(seed & _MASK) ^ _mix32(STREAMS.index(stream) + 0x9E3779B9 & _MASK))


# Both multipliers are below 2**31, so every product of a 32-bit value fits DuckDB's signed bigint.
_MACROS = """
create or replace temp macro xs(x, s) as xor(x, x >> s);
create or replace temp macro mix(x) as xs((xs((xs(x::bigint, 16) * 569420461) & 4294967295, 15) * 1935289751)
    & 4294967295, 15);
-- A uniform integer in [0, n) from draw i of the stream with offset b (n < 2**31).
create or replace temp macro pick(b, i, n) as (mix((b + i) & 4294967295) * n) >> 32;
"""


def _text(values: list[str]) -> str:
    """A SQL list literal of our own constants (none holds a quote)."""
    return "[" + ", ".join(f"'{value}'" for value in values) + "]"


def _weighted(draw: str, values: list[str], weights: list[int]) -> str:
    """A SQL expression choosing from values by integer weights with a draw in [0, sum(weights))."""
    cases, edge = [], 0
    for value, weight in zip(values[:-1], weights[:-1], strict=True):
        edge += weight
        cases.append(f"when {draw} < {edge} then {value}")
    return f"case {' '.join(cases)} else {values[-1]} end"


class _Sql:
    """The SQL of one generation (a seed and the entity sizes): typed row queries per table."""

    def __init__(self, seed: int, n: dict[str, int]) -> None:
        self.n = n
        self.b = {stream: stream_base(seed, stream) for stream in STREAMS}

    def pick(self, stream: str, row: str, n: int | str) -> str:
        """A SQL expression: a uniform integer in [0, n) drawn from a stream for a row key (ids below 2**30)."""
        return f"pick({self.b[stream]}, {row}, {n})"

    def price(self, product: str) -> str:
        """Unit price in cents of a product id (an expression), 2.00 to 80.00."""
        return f"(200 + {self.pick('product_price', product, 7801)})"

    def signup(self, customer: str) -> str:
        """Seconds after EPOCH when a customer (an id expression) signed up."""
        return self.pick("customer_signup", customer, SIGNUP_SPAN_S)

    def item(self, order_id: str, slot: int | str) -> dict[str, str]:
        """An order item's product, quantity, unit price and discount (cents), from its order and slot (0 to 3).

        Keyed by (order, slot) rather than by the item's id, so that an order's net needs no running offset.
        """
        item_id = f"({order_id} * {max(ITEM_COUNTS)} + {slot})"
        product = f"(1 + {self.pick('item_product', item_id, self.n['products'])})"
        quantity = f"(1 + {self.pick('item_quantity', item_id, 5)})"
        price = self.price(product)
        discounted = f"({self.pick('item_discount', item_id, 100)} < {round(DISCOUNTED_SHARE * 100)})"
        discount = f"(case when {discounted} then {quantity} * {price} // 10 else 0 end)"
        return {"product": product, "quantity": quantity, "price": price, "discount": discount}

    # Typed rows in the columns of COLUMNS: ids bigint, money in integer cents, times in seconds after EPOCH.
    def products(self) -> str:
        """product_id, sku, product_name, category, unit_price (cents), is_active (boolean)."""
        category = f"{_text(CATEGORIES)}[id % {len(CATEGORIES)} + 1]"
        adjective = f"{_text(ADJECTIVES)}[{self.pick('product_adjective', 'id', len(ADJECTIVES))} + 1]"
        return f"""
            select id as product_id, 'SKU-' || lpad(id::varchar, 5, '0') as sku,
                {adjective} || ' ' || {category} || ' no. ' || id as product_name, {category} as category,
                {self.price("id")} as unit_price,
                {self.pick("product_active", "id", 100)} < {round(ACTIVE_SHARE * 100)} as is_active
            from range(1, {self.n["products"] + 1}) as t(id)"""

    def customers(self) -> str:
        """customer_id, first_name, last_name, email, country_code, signed_up_at (s)."""
        first = f"{_text(FIRST_NAMES)}[{self.pick('customer_first', 'id', len(FIRST_NAMES))} + 1]"
        last = f"{_text(LAST_NAMES)}[{self.pick('customer_last', 'id', len(LAST_NAMES))} + 1]"
        return f"""
            select id as customer_id, first_name, last_name,
                first_name || '.' || last_name || '.' || id || '@example.com' as email,
                {_text(COUNTRIES)}[{self.pick("customer_country", "id", len(COUNTRIES))} + 1] as country_code,
                {self.signup("id")} as signed_up_at
            from (select id, {first} as first_name, {last} as last_name
                  from range(1, {self.n["customers"] + 1}) as t(id))"""

    def order_base(self) -> str:
        """Orders with what their items and payments need, in parallel (no running offsets yet).

        Columns: order_id, customer_id, ordered_at (s), status, channel, payment_method, item_count,
        payment_count, net_cents (the sum of the order's item nets, see `item`).
        """
        status = _weighted("s", [f"'{v}'" for v in STATUSES], STATUS_WEIGHTS)
        channel = _weighted("c", [f"'{v}'" for v in CHANNELS], CHANNEL_WEIGHTS)
        method = _weighted("m", [f"'{v}'" for v in METHODS], METHOD_WEIGHTS)
        items = _weighted("k", [str(v) for v in ITEM_COUNTS], ITEM_COUNT_WEIGHTS)
        single = round(SINGLE_PAYMENT_SHARE * 100)
        # Every slot is computed and multiplied by 0 or 1: a CASE around these expressions is ~6x slower.
        net = " + ".join(
            f"(item_count > {slot})::bigint * {self._item_net('order_id', slot)}" for slot in range(max(ITEM_COUNTS))
        )
        return f"""
            select *, {net} as net_cents
            from (
                select order_id, customer_id, earliest
                        + {self.pick("order_time", "order_id", f"({YEAR_END_S} - earliest)")} as ordered_at,
                    status, {channel} as channel, {method} as payment_method, {items} as item_count,
                    case when status = 'cancelled' then 0 when p < {single} then 1 else 2 end as payment_count
                from (
                    select id as order_id, customer_id,
                        greatest({self.signup("customer_id")}, {YEAR_START_S}) as earliest,
                        {status} as status,
                        {self.pick("order_channel", "id", 100)} as c,
                        {self.pick("order_method", "id", 100)} as m,
                        {self.pick("order_items", "id", 100)} as k,
                        {self.pick("order_split", "id", 100)} as p
                    from (select id, 1 + {self.pick("order_customer", "id", self.n["customers"])} as customer_id,
                            {self.pick("order_status", "id", 100)} as s
                          from range(1, {self.n["orders"] + 1}) as t(id))
                )
            )"""

    @staticmethod
    def order_plan() -> str:
        """`order_base` plus item_offset and payment_offset: the ids before this order's (dense ids from 1).

        A streaming window over the orders in id order: one pass, no sort, nothing held but the running sums.
        """
        return """
            select *,
                sum(item_count) over (rows between unbounded preceding and current row) - item_count
                    as item_offset,
                sum(payment_count) over (rows between unbounded preceding and current row) - payment_count
                    as payment_offset
            from order_base"""

    def _item_net(self, order_id: str, slot: int | str) -> str:
        item = self.item(order_id, slot)
        return f"({item['quantity']} * {item['price']} - {item['discount']})"

    def orders(self) -> str:
        """order_id, customer_id, ordered_at (s), status, channel: read from the `order_plan` table."""
        return "select order_id, customer_id, ordered_at, status, channel from order_plan"

    def order_items(self) -> str:
        """order_item_id, order_id, product_id, quantity, unit_price and discount_amount (cents), from `order_plan`."""
        item = self.item("order_id", "slot")
        return f"""
            select item_offset + slot + 1 as order_item_id, order_id, {item["product"]} as product_id,
                {item["quantity"]} as quantity, {item["price"]} as unit_price, {item["discount"]} as discount_amount
            from (select item_offset, order_id, unnest(range(item_count)) as slot from order_plan)"""

    def payments(self) -> str:
        """payment_id, order_id, paid_at (s), payment_method, amount (cents): one or two shares of the order's net."""
        minutes = self.pick("payment_minutes", "payment_id", 121)
        return f"""
            select payment_id, order_id, ordered_at + 60 * {minutes} as paid_at, payment_method,
                case when payment_count = 1 then net_cents when k = 1 then net_cents // 2
                     else net_cents - net_cents // 2 end as amount
            from (select payment_offset + unnest(range(1, payment_count + 1)) as payment_id,
                         unnest(range(1, payment_count + 1)) as k, *
                  from order_plan where payment_count > 0)"""


def _kind(table: str, column: str) -> str:
    data_type = COLUMNS[table][column]
    if column.endswith(("_at",)):
        return "seconds"
    if data_type.startswith("numeric"):
        return "cents"
    return data_type


_TIMESTAMP = "(timestamp '" + EPOCH + "' + to_seconds({c}))"  # a column `c` of seconds after EPOCH, as a timestamp


def _as_text(table: str) -> list[str]:
    """SQL expressions that spell each typed column as the old CSV writer did (None stays NULL)."""
    spell = {
        "integer": "{c}::varchar",
        "varchar": "{c}",
        "boolean": "case when {c} then 'true' else 'false' end",
        "seconds": "strftime(" + _TIMESTAMP + ", '%Y-%m-%d %H:%M:%S')",
        "cents": "printf('%d.%02d', {c} // 100, {c} % 100)",
    }
    return [spell[_kind(table, column)].format(c=column) + f" as {column}" for column in COLUMNS[table]]


def _as_parquet(table: str) -> list[str]:
    """SQL expressions of each typed column as its Parquet type (COLUMNS)."""
    spell = {
        "integer": "{c}::integer",
        "seconds": _TIMESTAMP,
        "cents": "({c}::decimal(18, 0) / 100)::decimal(12, 2)",
    }
    return [spell.get(_kind(table, c), "{c}").format(c=c) + f" as {c}" for c in COLUMNS[table]]


def _as_json(table: str) -> list[str]:
    """SQL expressions for JSON lines: integers and amounts as JSON numbers, the rest (times too) as text."""
    out = []
    for column, text in zip(COLUMNS[table], _as_text(table), strict=True):
        kind = _kind(table, column)
        if kind == "integer":
            out.append(column)
        elif kind == "cents":
            out.append(f"({column}::decimal(18, 0) / 100)::decimal(12, 2) as {column}")
        else:
            out.append(text)
    return out


def _text_to(table: str, suffix: str) -> list[str]:
    """SQL expressions turning text columns (malformed rows) into a file's representation.

    Parquet casts to the declared type (its malformed values can only be missing); JSON writes a value that
    parses as the column's number type as a JSON number and anything else as a JSON string, like a real feed.
    """
    out = []
    for column, data_type in COLUMNS[table].items():
        if suffix == ".parquet":
            out.append(f"cast({column} as {data_type}) as {column}")
        elif suffix == ".jsonl" and data_type == "integer":
            out.append(f"coalesce(to_json(try_cast({column} as bigint)), to_json({column})) as {column}")
        elif suffix == ".jsonl" and data_type.startswith("numeric"):
            out.append(f"coalesce(to_json(try_cast({column} as {data_type})), to_json({column})) as {column}")
        elif suffix == ".jsonl":
            out.append(f"to_json({column}) as {column}")
        else:
            out.append(column)
    return out


def _malformed_count(valid: int) -> int:
    return max(1, round(valid * MALFORMED_SHARE))


def _extras(sql: _Sql, table: str, valid: int) -> tuple[str, int, int]:
    """SQL of the rows after the valid ones (verbatim duplicates, then malformed rows) as text, in file order.

    Each malformed row copies a valid row (picked by its stream), takes the next unused id (order items and
    payments also point at the first valid order) and breaks one column with BREAKERS, in turn.
    Returns (sql, duplicate rows, malformed rows).
    """
    text = ", ".join(_as_text(table))
    key = next(iter(COLUMNS[table]))
    duplicates = max(1, round(valid * DUPLICATE_SHARE)) if table in DUPLICATED_TABLES else 0
    malformed = _malformed_count(valid)
    parts = []
    if duplicates:
        chosen = f"""select {key} from ({getattr(sql, table)()})
                     order by {sql.pick("product_duplicate", key, 2**31)}, {key} limit {duplicates}"""
        parts.append(f"select 0 as part, {key} as n, {text} from ({getattr(sql, table)()}) where {key} in ({chosen})")
    picks = f"""select k, 1 + {sql.pick(f"malformed_{table}", "k", valid)} as source
                from range({malformed}) as t(k)"""
    columns = list(COLUMNS[table])
    broken = []
    for index, column in enumerate(columns):
        value = "t." + column
        if index == 0:
            value = f"({valid + 1} + p.k)::varchar"
        if index == 1 and table in ("order_items", "payments"):
            value = "'1'"  # the first valid order
        cases = [
            f"when p.k % {len(BREAKERS[table])} = {turn} then {'NULL' if bad is None else repr(bad)}"
            for turn, (at, bad) in enumerate(BREAKERS[table])
            if at == index
        ]
        broken.append(f"case {' '.join(cases)} else {value} end as {column}" if cases else f"{value} as {column}")
    parts.append(
        f"""select 1 as part, p.k as n, {", ".join(broken)}
            from ({picks}) as p join (
                select {text} from ({getattr(sql, table)()}) where {key} in (select source from ({picks}))
            ) as t on t.{key} = p.source::varchar"""
    )
    body = " union all ".join(parts)
    return f"select {', '.join(columns)} from ({body}) order by part, n", duplicates, malformed


def write(
    scale: float, seed: int, out_dir: Path, say: Callable[[str], None] = print, reference_dir: Path | None = None
) -> Generated:
    """Write every table in its file format (FILES) and a checksum manifest into out_dir; return the counts.

    With `reference_dir`, also write the finance reference there (see `write_reference`). Raises ValueError
    for a scale at or below zero and OSError when out_dir cannot be written.
    """
    n = sizes(scale)
    generated = Generated(scale=scale, seed=seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryDirectory(dir=out_dir, prefix=".generate-") as scratch:
            _write(
                _Sql(seed, n), generated, out_dir=out_dir, scratch=Path(scratch), say=say, reference_dir=reference_dir
            )
    except duckdb.IOException as error:  # e.g. a full disk while DuckDB writes or spills
        raise OSError(errno.EIO, str(error).splitlines()[0]) from None
    write_manifest(generated, out_dir)
    return generated


def _write(
    sql: _Sql,
    generated: Generated,
    *,
    out_dir: Path,
    scratch: Path,
    say: Callable[[str], None],
    reference_dir: Path | None,
) -> None:
    """`write` inside its scratch folder (the plan database and DuckDB's spill files); fills generated.counts."""
    with duckdb.connect(str(scratch / "plan.duckdb")) as con:
        con.execute(f"set memory_limit = '{MEMORY_LIMIT}'")
        con.execute(f"set threads = {THREADS}")
        con.execute("set preserve_insertion_order = true")
        con.execute("set temp_directory = ?", [str(scratch / "spill")])
        con.execute(_MACROS)
        # Two steps: the hashes in parallel, then the running offsets in one ordered pass.
        con.execute(f"create table order_base as {sql.order_base()}")
        con.execute(f"create table order_plan as {sql.order_plan()}")
        con.execute("drop table order_base")
        counted = con.execute("select sum(item_count), sum(payment_count) from order_plan").fetchone() or (0, 0)
        valid = {**sql.n, "order_items": int(counted[0]), "payments": int(counted[1])}
        for table, file_name in FILES.items():
            path = out_dir / file_name
            counts = _write_table(con, sql, table, valid=valid[table], path=path, scratch=scratch)
            generated.counts[table] = counts
            extra = f", {counts.duplicate_rows:,} duplicated" if counts.duplicate_rows else ""
            say(f"  wrote {path} ({counts.rows:,} rows, {counts.malformed_rows:,} malformed on purpose{extra})")
        if reference_dir is not None:
            write_reference(monthly_net_revenue(con), generated.scale, generated.seed, reference_dir, say)


def _write_table(
    con: duckdb.DuckDBPyConnection, sql: _Sql, table: str, *, valid: int, path: Path, scratch: Path
) -> FileCounts:
    """Stream one table's valid rows, then its duplicates and malformed rows, into its file."""
    extras, duplicates, malformed = _extras(sql, table, valid)
    rows = getattr(sql, table)()
    broken = BROKEN_LINES.get(table)
    if path.suffix == ".parquet":
        # Parquet cannot be appended to, and a UNION in one COPY may interleave its branches' row groups:
        # the rows go into one table in order, which one scan copies out in the same order.
        # One thread while staging: parallel inserts merge their row groups at sizes that vary from run to
        # run, and the Parquet file's row groups (so its bytes) follow them.
        con.execute("set threads = 1")
        con.execute(f"create or replace table staged as select {', '.join(_as_parquet(table))} from ({rows})")
        con.execute(f"insert into staged select {', '.join(_text_to(table, '.parquet'))} from ({extras})")
        con.execute(f"set threads = {THREADS}")
        con.execute(f"copy staged to {_literal(path)} (format parquet, compression zstd)")
        con.execute("drop table staged")
    else:
        valid_columns = _as_text(table) if path.suffix == ".csv" else _as_json(table)
        options = "format csv, header true" if path.suffix == ".csv" else "format json"
        con.execute(f"copy (select {', '.join(valid_columns)} from ({rows})) to {_literal(path)} ({options})")
        tail = scratch / f"{table}.tail"
        options = "format csv, header false" if path.suffix == ".csv" else "format json"
        columns = ", ".join(_text_to(table, path.suffix))
        con.execute(f"copy (select {columns} from ({extras})) to {_literal(tail)} ({options})")
        with path.open("ab") as handle, tail.open("rb") as rest:
            shutil.copyfileobj(rest, handle)
            if broken is not None:
                handle.write(broken.encode("utf-8") + b"\n")
    total = valid + duplicates + malformed + (broken is not None)
    return FileCounts(total, valid, duplicates, malformed + (broken is not None))


def _literal(path: Path) -> str:
    """A path as a SQL string literal (COPY takes no parameters)."""
    return "'" + str(path).replace("'", "''") + "'"


def checksum(path: Path) -> str:
    """The sha256 of a file, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(generated: Generated, out_dir: Path) -> Path:
    """Record how the files were made and their checksums, so drift is caught; return manifest.json's path.

    Shape: {"seed", "scale", "files": {file name: {sha256, rows, valid_rows, duplicate_rows, malformed_rows}}}.
    """
    manifest = {
        "seed": generated.seed,
        "scale": generated.scale,
        "files": {
            FILES[table]: {"sha256": checksum(out_dir / FILES[table]), **asdict(counts)}
            for table, counts in generated.counts.items()
        },
    }
    path = out_dir / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def monthly_net_revenue(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """Net revenue per month (YYYY-MM-01, 2 decimals) of the orders that were not cancelled.

    Read from the generation's `order_plan` table: integer cents of the valid rows only, each order's net the
    sum over its items of quantity * unit price minus the line discount, by the formulas that wrote the items
    file; without the warehouse or the dbt models: the reference a reconciliation compares the marts with.
    """
    rows = con.execute(
        f"""select strftime(timestamp '{EPOCH}' + to_seconds(ordered_at), '%Y-%m-01') as month,
                sum(net_cents)::bigint as cents
            from order_plan where status <> 'cancelled' group by month order by month"""
    ).fetchall()
    return [(month, f"{cents // 100}.{cents % 100:02d}") for month, cents in rows]


def write_reference(
    rows: list[tuple[str, str]], scale: float, seed: int, reference_dir: Path, say: Callable[[str], None] = print
) -> dict[str, Path]:
    """Write the finance reference (month, net_revenue) and its own checksum manifest; return the paths."""
    reference_dir.mkdir(parents=True, exist_ok=True)
    path = reference_dir / REFERENCE_FILES["monthly_net_revenue"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["month", "net_revenue"])
        writer.writerows(rows)
    say(f"  wrote {path} ({len(rows):,} months)")
    manifest = {"seed": seed, "scale": scale, "files": {path.name: {"sha256": checksum(path), "rows": len(rows)}}}
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
    """Generated files for a scale factor under warehouse/raw/, made once and reused while their checksums hold."""
    out_dir = project_dir / "warehouse" / "raw" / f"sf_{scale:g}_seed_{seed}"
    if verify_manifest(out_dir):
        print(f"  generating raw data at scale {scale:g} into {out_dir}")
        write(scale, seed, out_dir)
    return out_dir
