"""Write a model's contract from its built relation: `contract MODEL`.

A mart whose YAML lists no column types builds without a contract, and the run report warns
(`checks.contract_checks`). This module reads the columns of the model as the last build left it in the
instance's audit location (`Session.describe`: name, type as the warehouse spells it) and writes them
into the model's YAML entry (the file dbt parsed it from, else `_<model>.yml` beside its SQL): a
`data_type` per column, in the relation's order, and `config: {contract: {enforced: true}}`, so the
next build enforces them. Columns the YAML already describes keep their description and tests; the
file is edited with a round trip (`properties`), so its comments, quoting and layout are kept.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import properties, warehouses
from .config import Settings
from .errors import PipelineError


def _model_node(settings: Settings, model: str) -> dict[str, Any]:
    """The model's node in the instance's last parse or build (target/<instance>/manifest.json)."""
    manifest_path = settings.target_dir / "manifest.json"
    if not manifest_path.is_file():
        raise PipelineError(
            f"{settings.name} has no build yet; run `run --env {settings.env}` first, then write the contract."
        )
    nodes = json.loads(manifest_path.read_text(encoding="utf-8")).get("nodes", {})
    for node in nodes.values():
        if node.get("resource_type") == "model" and node.get("name") == model:
            result: dict[str, Any] = node
            return result
    raise PipelineError(
        f"model {model} is not in the last build of {settings.name}; check the name, or run "
        f"`run --env {settings.env}` if you just added it."
    )


def built_columns(settings: Settings, schema: str, name: str) -> list[tuple[str, str]]:
    """(column name, type in lowercase, as the warehouse spells it) of a relation in the audit location, in order.

    [] when it does not exist. Raises PipelineError when the audit location cannot be read (e.g. held by another
    process).
    """
    warehouse = warehouses.for_settings(settings)
    if not warehouse.exists(warehouses.AUDIT):
        return []
    try:
        with warehouse.session(warehouses.AUDIT, read_only=True) as session:
            if name not in session.tables(schema):
                return []
            described = session.describe(schema, name)
    except warehouses.InUse:
        raise
    except warehouses.WarehouseError as error:
        raise PipelineError(f"cannot read {warehouse.where(warehouses.AUDIT)}: {error}") from None
    return [(column, data_type.lower()) for column, data_type in described]


def _yaml_path(settings: Settings, node: dict[str, Any]) -> Path:
    """The file holding the model's YAML entry (dbt's `patch_path`), else `_<model>.yml` beside its SQL."""
    patch = str(node.get("patch_path") or "")
    if "://" in patch:
        return settings.project_dir / patch.split("://", 1)[1]
    return settings.project_dir / Path(node["original_file_path"]).parent / f"_{node['name']}.yml"


def contract_entry(entry: dict[str, Any], columns: list[tuple[str, str]], where: str) -> dict[str, Any]:
    """The model's YAML entry (as data) with `columns` ((name, data_type) pairs) as its enforced column list.

    The entry's own column mappings and list are edited in place (so a round trip keeps their comments):
    described columns keep their order, the relation's other columns are appended in its order.
    `where` names the file in errors. Raises PipelineError when the entry already declares a type or an
    enforced contract (nothing is overwritten), or describes a column the relation does not have.
    """
    model = entry.get("name", "?")
    described = [c for c in entry.get("columns") or [] if isinstance(c, dict)]
    typed = [str(c.get("name")) for c in described if c.get("data_type")]
    contract = (entry.get("config") or {}).get("contract") or {}
    if typed or (isinstance(contract, dict) and contract.get("enforced")):
        shown = f"columns {', '.join(typed)} have a data_type" if typed else "its contract is enforced"
        raise PipelineError(
            f"{where} already declares the contract of {model} ({shown}); edit it there, "
            "or delete its data_types and contract config to write the list again."
        )
    names = {name.lower() for name, _ in columns}
    extra = [str(c.get("name")) for c in described if str(c.get("name")).lower() not in names]
    if extra:
        raise PipelineError(
            f"{where} describes column(s) {', '.join(extra)} that {model} does not return; "
            "remove them from the YAML or add them to the model, then run contract again."
        )
    # Edited in place, not rebuilt: a column the YAML describes keeps its place, its mapping and the comments
    # a round-trip reader attached to it; the relation's other columns follow, in the relation's order.
    types = {name.lower(): data_type for name, data_type in columns}
    for column in described:
        _set_data_type(column, types[str(column.get("name")).lower()])
    given_columns, given_config = entry.get("columns"), entry.get("config")
    listed: list[Any] = given_columns if isinstance(given_columns, list) else []
    known = {str(c.get("name")).lower() for c in described}
    listed.extend({"name": name, "data_type": data_type} for name, data_type in columns if name.lower() not in known)
    config: dict[str, Any] = given_config if isinstance(given_config, dict) else {}
    config["contract"] = {"enforced": True}
    return {**entry, "config": config, "columns": listed}


def _set_data_type(column: dict[str, Any], data_type: str) -> None:
    """Put `data_type` after the column's name and description (dbt's docs order), in place when it can."""
    position = 1 + ("description" in column)
    if hasattr(column, "insert"):  # ruamel.yaml's CommentedMap keeps the comments of a round trip
        column.insert(position, "data_type", data_type)
        return
    items = list(column.items())
    column.clear()
    column.update([*items[:position], ("data_type", data_type), *items[position:]])


def write_contract(settings: Settings, model: str) -> tuple[Path, int]:
    """Write the contract of `model` as its built relation shows it; return (YAML file written, columns).

    Raises PipelineError, writing nothing, when the instance has no build of the model, or its YAML
    already declares a contract (see `contract_entry`) or is not a dbt models file.
    """
    node = _model_node(settings, model)
    columns = built_columns(settings, node["schema"], node["alias"])
    if not columns:
        where = warehouses.for_settings(settings).where(warehouses.AUDIT)
        raise PipelineError(
            f"{model} is not built in {where}; run `run --env {settings.env}` first, then write its contract."
        )
    path = _yaml_path(settings, node)
    shown = path.relative_to(settings.project_dir).as_posix()
    document = properties.load(path, "models", "contract")
    models: list[Any] = document.data["models"]
    entry = next((m for m in models if isinstance(m, dict) and m.get("name") == model), None)
    if entry is None:
        entry = {"name": model}
        models.append(entry)
    # Set key by key: the entry's own mapping (and the comments ruamel attached to it) stays in place.
    for key, value in contract_entry(entry, columns, shown).items():
        entry[key] = value
    properties.write({path: document.dump()})
    return path, len(columns)
