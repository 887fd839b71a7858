{#-
    mask_pii() on Postgres: the same `masked:<HMAC-SHA-256 hex>` as pii.py, computed by pgcrypto's hmac()
    (a trusted extension since PostgreSQL 13; the pipeline and the test server create it). The key is the
    connection's setting `<project>.pii_key`, which the pipeline passes to every dbt connection through
    libpq's PGOPTIONS (`-c <project>.pii_key=...`): it is never in SQL text, a log or the catalog. Without
    it, current_setting() stops the build with "unrecognized configuration parameter" rather than mask
    with a wrong key. A value already masked is kept, as in pii.py.
-#}
{% macro postgres__pii_mask(column) -%}
    case
        when {{ column }} ~ '^masked:[0-9a-f]{64}$' then {{ column }}
        else 'masked:' || encode(
            hmac(
                convert_to({{ column }}, 'UTF8'),
                convert_to(current_setting('{{ project_name }}.pii_key'), 'UTF8'),
                'sha256'
            ),
            'hex'
        )
    end
{%- endmacro %}

{% macro postgres__is_masked_email(column) -%}
    {{ column }} ~ '^[0-9a-f]{64}@example[.]invalid$'
{%- endmacro %}
