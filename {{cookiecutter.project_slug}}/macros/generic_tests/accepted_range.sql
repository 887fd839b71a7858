{#-
    Generic data test: every non-null value of the column lies within [min_value, max_value].
    Either bound may be omitted; `inclusive: false` makes both bounds strict.
    Returns the offending rows, so the test fails when any row is out of range.
-#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
{%- set too_low = "value_field " ~ ("<" if inclusive else "<=") ~ " " ~ min_value -%}
{%- set too_high = "value_field " ~ (">" if inclusive else ">=") ~ " " ~ max_value -%}

with

validation as (
    select {{ column_name }} as value_field
    from {{ model }}
    where {{ column_name }} is not null
),

final as (
    select value_field
    from validation
    where
        {{ too_low if min_value is not none else "false" }}
        or {{ too_high if max_value is not none else "false" }}
)

select * from final

{% endtest %}
