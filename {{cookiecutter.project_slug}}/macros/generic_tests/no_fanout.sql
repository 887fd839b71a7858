{#-
    Generic data test: the model keeps the grain of its driving relation, i.e. it has no more
    rows than `driving`. A join on a key that is not unique on its other side (a duplicated
    product, say) multiplies rows silently; this catches it. Returns one row with both counts
    when the model has more rows, so the test fails.
-#}
{% test no_fanout(model, driving) %}

with

model_rows as (select count(*) as row_count from {{ model }}),

driving_rows as (select count(*) as row_count from {{ driving }}),

final as (
    select
        model_rows.row_count as model_row_count,
        driving_rows.row_count as driving_row_count
    from model_rows
    cross join driving_rows
    where model_rows.row_count > driving_rows.row_count
)

select * from final

{% endtest %}
