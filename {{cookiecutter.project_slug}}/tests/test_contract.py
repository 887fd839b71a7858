"""`contract MODEL` writes a model's YAML column list from its built relation, and never overwrites one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from {{ cookiecutter.package_name }} import cli, config, contract
from {{ cookiecutter.package_name }}.config import Settings
from {{ cookiecutter.package_name }}.errors import PipelineError

MODELS_YAML = """version: 2
models:
  - name: dim_customers
    description: One row per customer.
    columns:
      - name: customer_id
        description: The key.
        data_tests: [unique, not_null]
  - name: fct_orders
"""


def _settings(tmp_path: Path) -> Settings:
    """The ci instance of a project in tmp_path (config finds a project by its dbt_project.yml)."""
    (tmp_path / "dbt_project.yml").write_text("name: shop\n", encoding="utf-8")
    return config.resolve("ci", environ={"DBT_PROJECT_DIR": str(tmp_path)})


def _built(tmp_path: Path, models_yaml: str | None = MODELS_YAML) -> Settings:
    """A project whose ci instance built dim_customers (manifest + audit database), its YAML in models/marts/."""
    settings = _settings(tmp_path)
    marts = tmp_path / "models" / "marts"
    marts.mkdir(parents=True)
    (marts / "dim_customers.sql").write_text("select 1 as customer_id\n", encoding="utf-8")
    node = {"resource_type": "model", "name": "dim_customers", "schema": "main", "alias": "dim_customers",
            "original_file_path": "models/marts/dim_customers.sql", "patch_path": None}  # fmt: skip
    if models_yaml is not None:
        (marts / "_marts__models.yaml").write_text(models_yaml, encoding="utf-8")
        node["patch_path"] = "shop://models/marts/_marts__models.yaml"
    settings.target_dir.mkdir(parents=True)
    manifest = {"nodes": {"model.shop.dim_customers": node}}
    (settings.target_dir / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    settings.audit_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.audit_path)) as con:
        con.execute(
            "create table main.dim_customers as select 1 as customer_id, 'Ada' as customer_name, "
            "12.50::decimal(16, 2) as lifetime_value, timestamp '2024-09-01 10:00:00' as first_ordered_at"
        )
    return settings


def _entry(path: Path, model: str) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    return next(m for m in document["models"] if m["name"] == model)


def test_it_writes_every_column_with_its_type_and_enforces_the_contract(tmp_path: Path) -> None:
    """Columns in the relation's order, types as DuckDB spells them; description and tests kept; others untouched."""
    settings = _built(tmp_path)
    path, count = contract.write_contract(settings, "dim_customers")
    assert path == tmp_path / "models" / "marts" / "_marts__models.yaml"
    assert count == 4
    entry = _entry(path, "dim_customers")
    assert entry["config"] == {"contract": {"enforced": True}}
    assert entry["description"] == "One row per customer."
    assert entry["columns"] == [
        {"name": "customer_id", "description": "The key.", "data_tests": ["unique", "not_null"],
         "data_type": "integer"},
        {"name": "customer_name", "data_type": "varchar"},
        {"name": "lifetime_value", "data_type": "decimal(16,2)"},
        {"name": "first_ordered_at", "data_type": "timestamp"},
    ]  # fmt: skip
    assert _entry(path, "fct_orders") == {"name": "fct_orders"}


def test_a_model_without_yaml_gets_its_own_file_beside_its_sql(tmp_path: Path) -> None:
    settings = _built(tmp_path, models_yaml=None)
    path, _ = contract.write_contract(settings, "dim_customers")
    assert path == tmp_path / "models" / "marts" / "_dim_customers.yml"
    assert _entry(path, "dim_customers")["config"] == {"contract": {"enforced": True}}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        pytest.param(
            ("        data_tests: [unique, not_null]\n", "        data_type: bigint\n"),
            r"_marts__models.yaml already declares the contract of dim_customers \(columns customer_id have a "
            r"data_type\); edit it there",
            id="a-typed-column",
        ),
        pytest.param(
            ("    description: One row per customer.\n",
             "    description: One row per customer.\n    config: {contract: {enforced: true}}\n"),
            r"already declares the contract of dim_customers \(its contract is enforced\)",
            id="an-enforced-contract",
        ),
        pytest.param(
            ("      - name: customer_id\n", "      - name: customer_key\n"),
            r"describes column\(s\) customer_key that dim_customers does not return",
            id="a-column-the-model-lacks",
        ),
    ],
)  # fmt: skip
def test_it_refuses_to_overwrite_a_declared_contract_and_writes_nothing(
    tmp_path: Path, edit: tuple[str, str], message: str
) -> None:
    settings = _built(tmp_path, MODELS_YAML.replace(*edit))
    path = tmp_path / "models" / "marts" / "_marts__models.yaml"
    before = path.read_text(encoding="utf-8")
    with pytest.raises(PipelineError, match=message):
        contract.write_contract(settings, "dim_customers")
    assert path.read_text(encoding="utf-8") == before


def test_an_unknown_or_unbuilt_model_is_one_sentence_naming_the_fix(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(PipelineError, match=r"has no build yet; run `run --env ci` first"):
        contract.write_contract(settings, "dim_customers")
    settings = _built(tmp_path)
    with pytest.raises(PipelineError, match=r"model fct_nope is not in the last build"):
        contract.write_contract(settings, "fct_nope")
    settings.audit_path.unlink()
    with pytest.raises(PipelineError, match=r"dim_customers is not built in ci__audit.duckdb"):
        contract.write_contract(settings, "dim_customers")


def test_the_cli_writes_it_and_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _built(tmp_path)
    # The CLI reads this process's environment: inside a pull request's CI job (PR_NUMBER, GITHUB_REF) the ci
    # instance would be ci_pr_<n>, not the instance `_built` made.
    for name in config.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DBT_PROJECT_DIR", str(tmp_path))
    assert cli.main(["contract", "dim_customers", "--env", "ci"]) == 0
    wrote = capsys.readouterr().out
    assert "wrote the contract of dim_customers (4 columns) to models/marts/_marts__models.yaml" in wrote
    assert cli.main(["contract", "dim_customers", "--env", "ci"]) == 1
    assert capsys.readouterr().err.startswith("error: models/marts/_marts__models.yaml already declares")


def test_it_keeps_every_comment_and_the_layout_of_the_users_yaml(tmp_path: Path) -> None:
    """The file is edited, not rewritten: comments (top, inline, between entries) and the other models stay as typed."""
    commented = (
        "# Marts owned by the finance team.\n"
        "version: 2\n"
        "models:\n"
        "  - name: dim_customers  # one row per customer\n"
        "    description: 'One row per customer.'\n"
        "    columns:\n"
        "      # The key comes first.\n"
        "      - name: customer_id  # the key\n"
        '        description: "The customer\'s key."\n'
        "        data_tests: [unique, not_null]  # both, always\n"
        "\n"
        "  # Orders are contracted separately.\n"
        "  - name: fct_orders\n"
    )
    settings = _built(tmp_path, commented)
    path, _ = contract.write_contract(settings, "dim_customers")
    text = path.read_text(encoding="utf-8")
    for line in commented.splitlines():
        assert line in text.splitlines()
    entry = _entry(path, "dim_customers")
    assert entry["config"] == {"contract": {"enforced": True}}
    assert [(c["name"], c["data_type"]) for c in entry["columns"]] == [
        ("customer_id", "integer"), ("customer_name", "varchar"), ("lifetime_value", "decimal(16,2)"),
        ("first_ordered_at", "timestamp"),
    ]  # fmt: skip
    assert list(entry["columns"][0]) == ["name", "description", "data_type", "data_tests"]


def test_a_models_file_that_is_not_yaml_is_one_sentence_and_left_alone(tmp_path: Path) -> None:
    broken = "version: 2\nmodels:\n  - name: dim_customers\n   bad: [\n"
    settings = _built(tmp_path, broken)
    path = tmp_path / "models" / "marts" / "_marts__models.yaml"
    with pytest.raises(PipelineError) as raised:
        contract.write_contract(settings, "dim_customers")
    assert str(raised.value).startswith(f"{path} is not valid YAML (")
    assert str(raised.value).endswith("); fix it, then run contract again.")
    assert path.read_text(encoding="utf-8") == broken
