{#-
    mask_pii() on Spark: the same `masked:<HMAC-SHA-256 hex>` as pii.py, in SQL: sha2 over the key's outer
    pad and the binary sha2 of its inner pad and the value (RFC 2104). The pads are the session variables
    pii_inner_pad and pii_outer_pad, which the pipeline sets on the shared Spark session before dbt runs
    (warehouses/spark.py, bound as parameters): the key is never in SQL text, a log or the catalog.
    Without them Spark stops the build (UNRESOLVED_VARIABLE) rather than mask with a wrong key.
    A value already masked is kept, as in pii.py.
-#}
{% macro spark__pii_mask(column) -%}
    case
        when {{ column }} rlike '^masked:[0-9a-f]{64}$' then {{ column }}
        else concat('masked:', sha2(concat(
            pii_outer_pad, unhex(sha2(concat(pii_inner_pad, encode({{ column }}, 'UTF-8')), 256))
        ), 256))
    end
{%- endmacro %}

{% macro spark__is_masked_email(column) -%}
    {{ column }} rlike '^[0-9a-f]{64}@example[.]invalid$'
{%- endmacro %}
