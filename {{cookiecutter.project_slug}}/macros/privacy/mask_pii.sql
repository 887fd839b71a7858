{#-
    Mask a PII column in every target except those in var('pii_clear_targets') (default: prod).
    The mask is an md5 hash: deterministic, so masked values still join and count distinct like
    the real ones; it reads `masked:<md5>`, or with keep_email_shape `<md5>@example.invalid`
    (the reserved domain), so email-shaped checks keep working on masked data.
    Masking is idempotent: an already masked value is kept. Marts that expose PII mask it again,
    because slim CI may build them on production's (clear) staging models by deferral.
-#}
{% macro mask_pii(column, keep_email_shape=false) -%}
    {% if target.name in var('pii_clear_targets', ['prod']) -%}
        {{ column }}
    {%- elif keep_email_shape -%}
        case
            when {{ column }} like '%@example.invalid' then {{ column }}
            else {{ dbt.concat([dbt.hash(column), "'@example.invalid'"]) }}
        end
    {%- else -%}
        case
            when {{ column }} like 'masked:%' then {{ column }}
            else {{ dbt.concat(["'masked:'", dbt.hash(column)]) }}
        end
    {%- endif -%}
{%- endmacro %}
