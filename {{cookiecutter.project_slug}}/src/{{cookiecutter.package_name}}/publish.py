"""Write-audit-publish: copy the audited marts to where consumers read them, all or nothing.

The pipeline builds and checks everything in the audit location; only when no error-level check
failed does `publish` copy the published relations (the marts) to the consumers' location. How the
copy is made atomic is the warehouse's (`Warehouse.publish`, one implementation per warehouse in
`warehouses/`, each saying what its guarantee is): consumers see the old relations or all the new ones,
and a process killed at any point leaves the published location as it was.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from . import warehouses
from .config import Settings
from .warehouses import Relation

__all__ = ["Relation", "publish", "published_relations"]


def published_relations(manifest_path: Path, built: Iterable[str]) -> list[Relation]:
    """The models consumers read (table-like models in a `marts` folder) that this run built."""
    if not manifest_path.is_file():
        return []
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    nodes = manifest.get("nodes", {})
    return sorted(
        (
            Relation(node["schema"], node["alias"])
            for unique_id in set(built)
            if (node := nodes.get(unique_id, {})).get("resource_type") == "model"
            and "marts" in node.get("fqn", [])
            and node.get("config", {}).get("materialized") in ("table", "incremental")
        ),
        key=lambda relation: (relation.schema, relation.name),
    )


def publish(settings: Settings, relations: list[Relation]) -> list[Relation]:
    """Copy the audited relations from the audit location into the published one, all or none.

    Returns the relations published. Raises warehouses.WarehouseError (a PipelineError) when the audit
    location is held by another process or the copy fails; the published location is then unchanged.
    On DuckDB a reader holding the consumers' file does not block this: it keeps the old file until it
    reconnects.
    """
    if not relations:
        return []
    warehouses.for_settings(settings).publish(relations)
    return relations
