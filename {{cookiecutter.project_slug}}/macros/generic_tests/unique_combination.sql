{#-
    Generic data test: no two rows share the same values of `columns` (a compound key).
    Returns each repeated combination with how often it occurs.
-#}
{% test unique_combination(model, columns) %}

with

validation as (
    select
        {{ columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ columns | join(', ') }}
),

final as (
    select *
    from validation
    where occurrences > 1
)

select * from final

{% endtest %}
