{#-
    Mask a PII column in every target except those in var('pii_clear_targets') (default: prod).
    Outside prod the ingest step has already masked the raw tables (pii.py), so on this project's
    own data this is a no-op: pii_mask() keeps a value that is already `masked:<hmac>`. It masks for
    real when slim CI builds a model on production's clear tables by deferral: the same keyed
    HMAC-SHA-256 as ingest, so deferred and ingested rows still join. pii_mask() is a Python function
    that dbt's connection gets from the pii_plugin (profiles.yml), so only a table may call it: a
    view would need the function in every reader's connection.
    With keep_email_shape the value reads `<hmac>@example.invalid` (the reserved domain), so
    email-shaped checks keep working on masked data.
-#}
{% macro mask_pii(column, keep_email_shape=false) -%}
    {% if target.name in var('pii_clear_targets', ['prod']) -%}
        {{ column }}
    {%- else -%}
        {% if execute and config.get('materialized') == 'view' -%}
            {{ exceptions.raise_compiler_error(
                "mask_pii() calls a function only dbt's connection has: materialize "
                ~ model.name ~ " as a table, or mask in a table upstream."
            ) }}
        {%- endif -%}
        {% if keep_email_shape -%}
            case
                when {{ adapter.dispatch('is_masked_email')(column) }} then {{ column }}
                else {{ dbt.concat(["replace(" ~ adapter.dispatch('pii_mask')(column) ~ ", 'masked:', '')",
                                    "'@example.invalid'"]) }}
            end
        {%- else -%}
            {{ adapter.dispatch('pii_mask')(column) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- The SQL of the mask, per warehouse (dispatched).
    DuckDB: pii_mask(), the function pii_plugin registers. #}
{% macro default__pii_mask(column) -%}
    pii_mask({{ column }})
{%- endmacro %}

{% macro default__is_masked_email(column) -%}
    regexp_full_match({{ column }}, '[0-9a-f]{64}@example[.]invalid')
{%- endmacro %}
